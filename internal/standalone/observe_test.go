package standalone_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/cove-env/cove/internal/standalone"
	"github.com/cove-env/cove/internal/testlog"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProfiling(t *testing.T) {
	w := newWorld(t)
	off := w.start(t, "plain", 0)
	if addr := off.ProfileAddr(); addr != "" {
		t.Errorf("profiling off, yet served at %s", addr)
	}
	on := w.start(t, "profiled", 0, func(o *standalone.Options) { o.Profiling = true })
	status, body := get(t, "http://"+on.ProfileAddr()+"/debug/pprof/goroutine?debug=1")
	if status != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: status %d, body %.200q", status, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := on.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + on.ProfileAddr() + "/debug/pprof/"); err == nil {
		t.Error("the profiling server still answers after Close")
	}
}

// TestAPILoggingFromConfiguration turns API logging on in a Configuration,
// with routes instead of paths, and off again with the sidecar's own
// setting (--enable-api-logging=false).
func TestAPILoggingFromConfiguration(t *testing.T) {
	w := newWorld(t)
	cfg := filepath.Join(w.dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: logged
spec:
  logging:
    apiLogging:
      enabled: true
      obfuscateURLs: true
      omitHealthChecks: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	w.start(t, "beta", startApp(t, "beta"))
	for _, own := range []*bool{nil, new(false)} {
		var logs testlog.Buffer
		alpha := w.start(t, "alpha", 0, func(o *standalone.Options) {
			o.ConfigPath, o.APILogging = cfg, own
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		if status, _, body := invoke(t, alpha, "beta", "users/42", nil); status != http.StatusOK {
			t.Fatalf("invoke: %d %s", status, body)
		}
		get(t, "http://"+alpha.HTTPAddr()+"/v1.0/healthz")
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		if err := alpha.Close(ctx); err != nil { // waits for the calls, whose lines follow their answers
			t.Fatal(err)
		}
		cancel()
		out := logs.String()
		logged := strings.Count(out, `msg="HTTP API Called"`)
		switch {
		case own == nil && (logged != 1 || !strings.Contains(out, `method="POST /v1.0/invoke/{app}/method/{method...}"`) || strings.Contains(out, "users/42")):
			t.Errorf("by the Configuration: want one line naming the route only, got:\n%s", out)
		case own != nil && logged != 0:
			t.Errorf("turned off by the sidecar: want no API log line, got:\n%s", out)
		}
	}
}

// TestMetrics scrapes a standalone sidecar's /metrics as Prometheus would,
// after calls over HTTP and, through the Dapr Go SDK, over gRPC: daprd's
// metric names and labels, the Configuration's path patterns, and nothing
// recorded when the Configuration turns metrics off.
func TestMetrics(t *testing.T) {
	w := newWorld(t)
	config := func(name, spec string) string {
		path := filepath.Join(w.dir, name+".yaml")
		doc := "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: " + name + "}\nspec:\n" + spec
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	w.start(t, "beta", startApp(t, "beta"))
	alpha := w.start(t, "alpha", 0, func(o *standalone.Options) {
		o.Metrics = true
		o.ConfigPath = config("patterns", "  metric:\n    http:\n      pathMatching: [\"/users/{id}\"]\n")
	})
	if status, _, body := invoke(t, alpha, "beta", "users/42", nil); status != http.StatusOK {
		t.Fatalf("invoke: %d %s", status, body)
	}
	get(t, "http://"+alpha.HTTPAddr()+"/v1.0/healthz")
	c, err := dapr.NewClientWithAddressContext(t.Context(), alpha.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetState(t.Context(), "nostore", "k", nil); err == nil {
		t.Fatal("GetState of an unknown store succeeded")
	}
	status, text := get(t, "http://"+alpha.MetricsAddr()+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, want := range []string{
		`dapr_http_server_request_count{app_id="alpha",method="POST",path="/v1.0/invoke/{app_id}/method/users/{id}",status="200"} 1`,
		`dapr_http_server_request_count{app_id="alpha",method="GET",path="/v1.0/healthz",status="204"} 1`,
		`dapr_http_server_latency_count{app_id="alpha",method="POST",path="/v1.0/invoke/{app_id}/method/users/{id}",status="200"} 1`,
		`dapr_http_server_request_bytes_sum{app_id="alpha"} 10`,                                                                                                  // "hello beta", the invocation's body
		`dapr_grpc_io_server_completed_rpcs{app_id="alpha",grpc_server_method="/dapr.proto.runtime.v1.Dapr/GetState",grpc_server_status="FailedPrecondition"} 1`, // no state store configured
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in the scrape; got:\n%s", want, daprLines(text))
		}
	}

	// spec.metric.enabled: false records nothing; the process's own
	// metrics are still served.
	quiet := w.start(t, "quiet", 0, func(o *standalone.Options) {
		o.Metrics = true
		o.ConfigPath = config("off", "  metric: {enabled: false}\n")
	})
	get(t, "http://"+quiet.HTTPAddr()+"/v1.0/healthz")
	if _, text := get(t, "http://"+quiet.MetricsAddr()+"/metrics"); strings.Contains(text, `app_id="quiet"`) || !strings.Contains(text, "go_goroutines ") {
		t.Errorf("metrics turned off by the Configuration: want no Dapr series, got:\n%s", daprLines(text))
	}
	if off := w.start(t, "off", 0); off.MetricsAddr() != "" {
		t.Errorf("metrics off, yet served at %s", off.MetricsAddr())
	}
}

// A metrics port that is taken fails the sidecar, unless it was only the
// default, which leaves the sidecar without metrics.
func TestMetricsPortTaken(t *testing.T) {
	w := newWorld(t)
	first := w.start(t, "first", 0, func(o *standalone.Options) { o.Metrics = true })
	_, port, _ := strings.Cut(first.MetricsAddr(), ":")
	n, _ := strconv.Atoi(port)
	var logs testlog.Buffer
	second := w.start(t, "second", 0, func(o *standalone.Options) {
		o.Metrics, o.MetricsPort, o.MetricsPortOptional = true, n, true
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if second.MetricsAddr() != "" || !strings.Contains(logs.String(), "choose another with --metrics-port") {
		t.Errorf("default port taken: want no metrics and a warning; served at %q, logged:\n%s", second.MetricsAddr(), logs.String())
	}
	opts := w.options("third", 0)
	opts.Metrics, opts.MetricsPort = true, n
	if s, err := standalone.Start(t.Context(), opts); err == nil {
		s.Close(context.Background())
		t.Fatal("a sidecar started although its --metrics-port was taken")
	} else if !strings.Contains(err.Error(), "--metrics-port") {
		t.Errorf("want an error naming --metrics-port, got %v", err)
	}
}

// daprLines keeps a scrape's Dapr series, for failure messages.
func daprLines(text string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.HasPrefix(l, "dapr_") && !strings.Contains(l, "_bucket") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
