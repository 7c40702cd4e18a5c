package cli

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cove-env/cove/internal/standalone"
)

func TestParseSidecarArgs(t *testing.T) {
	env := map[string]string{"COVE_CA_DIR": "/ca", "COVE_NAME_RESOLUTION_FILE": "/nr.db", "COVE_JOBS_FILE": "/jobs.db",
		"DAPR_API_TOKEN": "api-token", "APP_API_TOKEN": "app-token", "NAMESPACE": "prod", "HOST_IP": "10.0.0.9"}
	getenv := func(k string) string { return env[k] }
	base := standalone.Options{
		AppChannelAddress: "127.0.0.1", AppProtocol: "http", HTTPPort: 3500, GRPCPort: 50001,
		MaxRequestBodySize: 4 << 20, MaxHeaderBytes: 4 << 10, AppMaxConcurrency: -1,
		CADir: "/ca", NameResolutionFile: "/nr.db", JobsFile: "/jobs.db",
		APIToken: "api-token", AppAPIToken: "app-token", Namespace: "prod", HostIP: "10.0.0.9",
		Metrics: true, MetricsPort: 9090, MetricsPortOptional: true,
	}
	with := func(f func(o *standalone.Options)) standalone.Options {
		o := base
		o.AppID = "orders"
		f(&o)
		return o
	}
	tests := []struct {
		name    string
		args    []string
		want    standalone.Options
		level   slog.Level
		grace   time.Duration
		wantErr string
	}{
		{name: "daprd defaults", args: []string{"--app-id", "orders"}, want: with(func(*standalone.Options) {})},
		{
			name: "every implemented flag",
			args: []string{
				"--app-id", "orders", "--app-port", "8080", "--app-protocol", "grpc", "--app-channel-address", "10.0.0.2",
				"--dapr-http-port", "3501", "--dapr-grpc-port", "50002", "--dapr-internal-grpc-port", "50003",
				"--dapr-listen-addresses", "127.0.0.1,[::1]", "--resources-path", "a", "--resources-path", "b",
				"--components-path", "c", "--config", "cfg.yaml", "--log-level", "debug",
				"--dapr-http-max-request-size", "16", "--dapr-http-read-buffer-size", "8", "--app-max-concurrency", "2",
				"--dapr-graceful-shutdown-seconds", "9",
			},
			want: with(func(o *standalone.Options) {
				o.AppPort, o.AppProtocol, o.AppChannelAddress = 8080, "grpc", "10.0.0.2"
				o.HTTPPort, o.GRPCPort, o.InternalPort = 3501, 50002, 50003
				o.ListenAddresses = []string{"127.0.0.1", "::1"}
				o.ResourcesPaths = []string{"a", "b", "c"}
				o.ConfigPath = "cfg.yaml"
				o.MaxRequestBodySize, o.MaxHeaderBytes, o.AppMaxConcurrency = 16<<20, 8<<10, 2
			}),
			level: slog.LevelDebug, grace: 9 * time.Second,
		},
		{
			name: "go flag style single dashes",
			args: []string{"-app-id", "orders", "-app-port=8080", "-dapr-http-port", "3502", "-enable-mtls"},
			want: with(func(o *standalone.Options) { o.AppPort, o.HTTPPort = 8080, 3502 }),
		},
		{
			name: "quantities win over the MB and KB flags",
			args: []string{"--app-id", "orders", "--dapr-http-max-request-size", "16", "--max-body-size", "2Mi", "--read-buffer-size", "16Ki"},
			want: with(func(o *standalone.Options) { o.MaxRequestBodySize, o.MaxHeaderBytes = 2<<20, 16<<10 }),
		},
		{
			name: "accepted flags change nothing",
			args: []string{
				"--app-id", "orders",
				"--scheduler-host-address", "localhost:50006", "--profile-port", "7778",
				"--log-as-json", "--mode", "standalone", "--app-port", "-1",
			},
			want: with(func(*standalone.Options) {}),
		},
		{
			name: "placement: the first of a list",
			args: []string{"--app-id", "orders", "--placement-host-address", "localhost:50005,localhost:50006"},
			want: with(func(o *standalone.Options) { o.PlacementAddress = "localhost:50005" }),
		},
		{
			name: "metrics off",
			args: []string{"--app-id", "orders", "--metrics-port", "9091", "--enable-metrics=false"},
			want: with(func(o *standalone.Options) { o.Metrics, o.MetricsPort, o.MetricsPortOptional = false, 0, false }),
		},
		{
			name: "a metrics port given must be had",
			args: []string{"--app-id", "orders", "--metrics-port", "9091"},
			want: with(func(o *standalone.Options) { o.MetricsPort, o.MetricsPortOptional = 9091, false }),
		},
		{
			name: "api logging and profiling",
			args: []string{"--app-id", "orders", "--enable-api-logging", "--enable-profiling", "--profile-port", "7778"},
			want: with(func(o *standalone.Options) { o.APILogging, o.Profiling, o.ProfilePort = new(true), true, 7778 }),
		},
		{
			name: "api logging turned off, profiling on its default port",
			args: []string{"--app-id", "orders", "--enable-api-logging=false", "--enable-profiling"},
			want: with(func(o *standalone.Options) { o.APILogging, o.Profiling, o.ProfilePort = new(false), true, 7777 }),
		},
		{
			name: "flags beat the environment",
			args: []string{"--app-id", "orders", "--ca-dir", "/flag-ca", "--name-resolution-file", "/flag.db", "--jobs-file", "/flag-jobs.db"},
			want: with(func(o *standalone.Options) {
				o.CADir, o.NameResolutionFile, o.JobsFile = "/flag-ca", "/flag.db", "/flag-jobs.db"
			}),
		},
		{name: "app id required", args: []string{"--app-port", "80"}, wantErr: "--app-id is required"},
		{name: "unsupported protocol", args: []string{"--app-id", "a", "--app-protocol", "h2c"}, wantErr: "not supported yet"},
		{name: "bad port", args: []string{"--app-id", "a", "--dapr-http-port", "http"}, wantErr: `--dapr-http-port "http": not a port`},
		{name: "kubernetes mode", args: []string{"--app-id", "a", "--mode", "kubernetes"}, wantErr: "standalone mode only"},
		{name: "bad profile port", args: []string{"--app-id", "a", "--enable-profiling", "--profile-port", "pprof"}, wantErr: `--profile-port "pprof": not a port`},
		{name: "bad metrics port", args: []string{"--app-id", "a", "--metrics-port", "prom"}, wantErr: `--metrics-port "prom": not a port`},
		{name: "bad size", args: []string{"--app-id", "a", "--max-body-size", "lots"}, wantErr: "not a size"},
		{name: "bad log level", args: []string{"--app-id", "a", "--log-level", "loud"}, wantErr: "--log-level"},
		{name: "unknown flag", args: []string{"--app-id", "a", "--unix-domain-socket", "/tmp"}, wantErr: "unknown flag"},
		{name: "stray argument", args: []string{"--app-id", "a", "python", "app.py"}, wantErr: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, err := parseSidecarArgs(tc.args, getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, run.opts, cmpopts.IgnoreFields(standalone.Options{}, "RuntimeVersion")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			grace := tc.grace
			if grace == 0 {
				grace = 5 * time.Second
			}
			if run.logLevel != tc.level || run.grace != grace {
				t.Errorf("log level %v, grace %v; want %v, %v", run.logLevel, run.grace, tc.level, grace)
			}
		})
	}
}

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
	}{
		{"bytes", "512", 512}, {"kibibytes", "4Ki", 4096}, {"mebibytes", "4Mi", 4 << 20},
		{"gibibytes", "1Gi", 1 << 30}, {"kilobytes", "2k", 2000}, {"megabytes", "3M", 3e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseQuantity(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("parseQuantity(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}
