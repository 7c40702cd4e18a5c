package standalone_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components"
	_ "github.com/cove-env/cove/internal/components/all"
	"github.com/cove-env/cove/internal/components/nameresolution/sqlite"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/standalone"
)

// echo is what the test apps answer: who called, how, with what.
type echo struct {
	App    string `json:"app"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Body   string `json:"body"`
	Token  string `json:"token"`
}

// startApp serves an app on loopback that answers every request with an
// echo naming name.
func startApp(t *testing.T, name string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{
			App: name, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Caller: r.Header.Get("dapr-caller-app-id"), Callee: r.Header.Get("dapr-callee-app-id"), Body: string(b),
			Token: r.Header.Get("dapr-api-token"),
		})
	}))
	t.Cleanup(srv.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	n, _ := strconv.Atoi(port)
	return n
}

// world is the state two or more sidecars share: one CA, one registry.
type world struct {
	dir, caDir, nrFile string
}

func newWorld(t *testing.T) world {
	dir := t.TempDir()
	return world{dir: dir, caDir: filepath.Join(dir, "ca"), nrFile: filepath.Join(dir, "nr.db")}
}

// options are the options of a sidecar of w that start would use.
func (w world) options(appID string, appPort int) standalone.Options {
	return standalone.Options{
		AppID: appID, AppPort: appPort, ListenAddresses: []string{"127.0.0.1"},
		CADir: w.caDir, NameResolutionFile: w.nrFile, BaseDir: w.dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (w world) start(t *testing.T, appID string, appPort int, mutate ...func(*standalone.Options)) *standalone.Sidecar {
	t.Helper()
	opts := w.options(appID, appPort)
	for _, m := range mutate {
		m(&opts)
	}
	s, err := standalone.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start %s: %v", appID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// invoke calls appID's method through the sidecar's HTTP API.
func invoke(t *testing.T, s *standalone.Sidecar, appID, method string, hdr map[string]string) (int, echo, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		"http://"+s.HTTPAddr()+"/v1.0/invoke/"+appID+"/method/"+method, strings.NewReader("hello "+appID))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke %s: %v", appID, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e echo
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("invoke %s: body %q: %v", appID, b, err)
		}
	}
	return resp.StatusCode, e, string(b)
}

func TestTwoSidecarsCallEachOther(t *testing.T) {
	w := newWorld(t)
	alpha := w.start(t, "alpha", startApp(t, "alpha"))
	beta := w.start(t, "beta", startApp(t, "beta"))

	tests := []struct {
		name   string
		from   *standalone.Sidecar
		target string
		method string
		hdr    map[string]string
		want   echo
	}{
		{"alpha calls beta", alpha, "beta", "orders/1?x=1", nil,
			echo{App: "beta", Method: "POST", Path: "/orders/1", Query: "x=1", Caller: "alpha", Callee: "beta", Body: "hello beta"}},
		{"method kept as sent", alpha, "beta", "api//orders/", nil,
			echo{App: "beta", Method: "POST", Path: "/api//orders/", Caller: "alpha", Callee: "beta", Body: "hello beta"}},
		{"the app's root", alpha, "beta", "", nil,
			echo{App: "beta", Method: "POST", Path: "/", Caller: "alpha", Callee: "beta", Body: "hello beta"}},
		{"beta calls alpha", beta, "alpha", "status", nil,
			echo{App: "alpha", Method: "POST", Path: "/status", Caller: "beta", Callee: "alpha", Body: "hello alpha"}},
		{"namespace-qualified id", alpha, "beta.default", "q", nil,
			echo{App: "beta", Method: "POST", Path: "/q", Caller: "alpha", Callee: "beta", Body: "hello beta.default"}},
		{"spoofed caller header is replaced", alpha, "beta", "who", map[string]string{"dapr-caller-app-id": "mallory"},
			echo{App: "beta", Method: "POST", Path: "/who", Caller: "alpha", Callee: "beta", Body: "hello beta"}},
		{"self invocation stays local", alpha, "alpha", "self", nil,
			echo{App: "alpha", Method: "POST", Path: "/self", Caller: "alpha", Callee: "alpha", Body: "hello alpha"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			status, got, body := invoke(t, tc.from, tc.target, method, tc.hdr)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("app saw (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("unknown app", func(t *testing.T) {
		status, _, body := invoke(t, alpha, "nobody", "x", nil)
		if status != http.StatusInternalServerError || !strings.Contains(body, "ERR_DIRECT_INVOKE") || !strings.Contains(body, "couldn't find service") {
			t.Errorf("status %d, body %s; want 500 ERR_DIRECT_INVOKE couldn't find service", status, body)
		}
	})
}

func TestRoundRobinAndCleanExit(t *testing.T) {
	w := newWorld(t)
	alpha := w.start(t, "alpha", startApp(t, "alpha"))
	b1 := w.start(t, "beta", startApp(t, "beta-1"))
	b2 := w.start(t, "beta", startApp(t, "beta-2"))
	_ = b2

	seen := map[string]int{}
	for range 4 {
		status, got, body := invoke(t, alpha, "beta", "rr", nil)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		seen[got.App]++
	}
	if diff := cmp.Diff(map[string]int{"beta-1": 2, "beta-2": 2}, seen); diff != "" {
		t.Errorf("replicas hit (-want +got):\n%s", diff)
	}

	// A clean exit deregisters at once: every call now reaches beta-2.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b1.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for range 3 {
		status, got, body := invoke(t, alpha, "beta", "after", nil)
		if status != http.StatusOK || got.App != "beta-2" {
			t.Fatalf("after a clean exit: status %d, app %q, body %s", status, got.App, body)
		}
	}
}

// TestReplacedSidecarFoundAtOnce restarts an app's only sidecar: the
// caller remembers where it was, finds it gone, forgets it and finds the
// new one, all within the first call after the restart.
func TestReplacedSidecarFoundAtOnce(t *testing.T) {
	w := newWorld(t)
	// Remembered for longer than the restart takes, so only finding the
	// old sidecar gone can make alpha look again.
	alpha := w.start(t, "alpha", startApp(t, "alpha"), func(o *standalone.Options) { o.NameCacheFor = time.Hour })
	old := w.start(t, "beta", startApp(t, "beta-old"))
	if status, got, body := invoke(t, alpha, "beta", "x", nil); status != http.StatusOK || got.App != "beta-old" {
		t.Fatalf("before the restart: status %d, app %q, body %s", status, got.App, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := old.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w.start(t, "beta", startApp(t, "beta-new"))
	if status, got, body := invoke(t, alpha, "beta", "x", nil); status != http.StatusOK || got.App != "beta-new" {
		t.Fatalf("right after the restart: status %d, app %q, body %s", status, got.App, body)
	}
}

func TestCrashedSidecarExpires(t *testing.T) {
	w := newWorld(t)
	// A registry of its own, as another process would hold, with a short
	// interval: a registration that is never refreshed stands for a
	// sidecar that died without deregistering.
	reg := sqlite.New()
	if err := reg.Init(t.Context(), components.Metadata{Name: "nr", Properties: map[string]string{
		"connectionString": w.nrFile, "updateInterval": "1s"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	alpha := w.start(t, "alpha", startApp(t, "alpha"))
	ghost := alpha.Registration()
	ghost.AppID, ghost.InstanceID, ghost.Address = "ghost", "dead", "127.0.0.1:1"
	if err := reg.Register(t.Context(), ghost); err != nil {
		t.Fatal(err)
	}
	status, _, body := invoke(t, alpha, "ghost", "x", nil)
	if status != http.StatusInternalServerError || strings.Contains(body, "couldn't find service") {
		t.Fatalf("while registered: status %d, body %s; want a failed connection, not an unknown app", status, body)
	}
	deadline := time.Now().Add(reg.TTL() + 5*time.Second)
	for {
		_, _, body := invoke(t, alpha, "ghost", "x", nil)
		if strings.Contains(body, "couldn't find service") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still resolvable %v after the TTL: %s", reg.TTL(), body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestInternalListenerRefusesUntrustedClients(t *testing.T) {
	w := newWorld(t)
	beta := w.start(t, "beta", startApp(t, "beta"))
	addr := beta.Registration().Address

	other, err := security.LoadOrCreateDir(filepath.Join(t.TempDir(), "other-ca"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueWorkload(standalone.DefaultTrustDomain, "default", "alpha")
	if err != nil {
		t.Fatal(err)
	}
	ours, err := security.LoadOrCreateDir(w.caDir)
	if err != nil {
		t.Fatal(err)
	}
	wrongDomain, err := ours.IssueWorkload("elsewhere", "default", "alpha")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ours.IssueWorkload(standalone.DefaultTrustDomain, "default", "alpha")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		cert    *tls.Certificate
		refused bool
	}{
		{"no certificate", nil, true},
		{"certificate from another CA", foreign, true},
		{"certificate of another trust domain", wrongDomain, true},
		{"certificate from the environment CA", good, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}} //nolint:gosec // the server's identity is not what is tested
			if tc.cert != nil {
				cfg.Certificates = []tls.Certificate{*tc.cert}
			}
			if tc.refused {
				// TLS 1.3 finishes the client's side of the handshake before
				// the server has checked the client's certificate; the
				// refusal arrives as an alert on the first read, before any
				// request could be sent.
				conn, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					return // refused during the handshake itself
				}
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				if err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
					t.Fatalf("read after the handshake: %v; want a TLS alert", err)
				}
				return
			}
			tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+addr+"/probe", nil)
			req.Header.Set("dapr-callee-app-id", "beta")
			req.Header.Set("dapr-caller-app-id", "mallory")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("trusted client refused: %v", err)
			}
			defer resp.Body.Close()
			var got echo
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Caller != "alpha" || resp.ProtoMajor != 2 {
				t.Errorf("caller %q over HTTP/%d; want alpha (from the certificate, not the header) over HTTP/2", got.Caller, resp.ProtoMajor)
			}
		})
	}
}

// A sidecar taking part in a placement keeps its actors' reminders as
// jobs: it needs a jobs file.
func TestPlacementNeedsAJobsFile(t *testing.T) {
	w := newWorld(t)
	opts := w.options("alpha", 0)
	opts.PlacementAddress = "127.0.0.1:1"
	_, err := standalone.Start(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "a jobs file is required with a placement address") {
		t.Fatalf("Start with a placement address and no jobs file: %v", err)
	}
}

func TestBadComponentNamesFileAndLine(t *testing.T) {
	w := newWorld(t)
	res := t.TempDir()
	good := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  - name: connectionString\n    value: state.db\n"
	bad := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: broken\nspec:\n  type: state.sqlite\n  version: v1\n  metadta: []\n"
	if err := os.WriteFile(filepath.Join(res, "a.yaml"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(res, "b.yaml"), []byte(good+"---\n"+bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := standalone.Start(t.Context(), standalone.Options{
		AppID: "alpha", ListenAddresses: []string{"127.0.0.1"}, CADir: w.caDir, NameResolutionFile: w.nrFile,
		ResourcesPaths: []string{res}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err == nil {
		t.Fatal("started with a bad component file")
	}
	for _, want := range []string{filepath.Join(res, "b.yaml") + ":19", "metadta", `component "statestore" is also defined in ` + filepath.Join(res, "a.yaml")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestStaleRegistrationIsRefused(t *testing.T) {
	w := newWorld(t)
	alpha := w.start(t, "alpha", startApp(t, "alpha"))
	gamma := w.start(t, "gamma", startApp(t, "gamma"))
	// An entry for beta pointing at gamma's internal listener, as when beta
	// died and gamma took its port before the entry expired.
	reg := sqlite.New()
	if err := reg.Init(t.Context(), components.Metadata{Name: "nr", Properties: map[string]string{"connectionString": w.nrFile}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	stale := gamma.Registration()
	stale.AppID, stale.InstanceID = "beta", "stale"
	if err := reg.Register(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	status, got, body := invoke(t, alpha, "beta", "x", nil)
	if status == http.StatusOK || got.App == "gamma" {
		t.Fatalf("a call for beta reached %q (status %d): %s", got.App, status, body)
	}
	if !strings.Contains(body, "ERR_DIRECT_INVOKE") {
		t.Errorf("body %s; want ERR_DIRECT_INVOKE", body)
	}
}

func TestConfigurationNamesRedis(t *testing.T) {
	stateconformance.NeedService(t, "Redis", "127.0.0.1:6379")
	w := newWorld(t)
	cfg := filepath.Join(w.dir, "config.yaml")
	prefix := "cove-nr-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	yaml := "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\nspec:\n  accessControl:\n    trustDomain: example.org\n" +
		"  nameResolution:\n    component: redis\n    configuration:\n      redisHost: 127.0.0.1:6379\n      keyPrefix: " + prefix + "\n      updateInterval: 2\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	useConfig := func(o *standalone.Options) { o.ConfigPath, o.NameResolutionFile = cfg, "" }
	alpha := w.start(t, "alpha", startApp(t, "alpha"), useConfig)
	w.start(t, "beta", startApp(t, "beta"), useConfig)
	status, got, body := invoke(t, alpha, "beta", "via-redis", nil)
	if status != http.StatusOK || got.App != "beta" || got.Caller != "alpha" {
		t.Fatalf("status %d, app %q, caller %q: %s", status, got.App, got.Caller, body)
	}
	// Nothing went to the default SQLite file.
	if _, err := os.Stat(w.nrFile); err == nil {
		t.Errorf("%s was created though the Configuration names redis", w.nrFile)
	}
}

func TestConfigurationErrors(t *testing.T) {
	head := "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\nspec:\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"not a configuration", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: c\n", "config.yaml:2:1: kind: this file holds a Dapr Component, not a Configuration"},
		{"unknown field named with its line", head + "  tracing:\n    samplingRat: 1\n", "config.yaml:7:5: spec.tracing.samplingRat: unknown field"},
		{"no component", head + "  nameResolution:\n    configuration: {}\n", "component is required"},
		{"component cove does not run", head + "  nameResolution:\n    component: mdns\n", `component type "nameresolution.mdns" is not supported yet by cove`},
		{"unknown component", head + "  nameResolution:\n    component: sqlit\n", `unknown component type "nameresolution.sqlit"; did you mean "nameresolution.sqlite"?`},
		{"bad registry metadata", head + "  nameResolution:\n    component: sqlite\n    configuration:\n      updateInterval: soon\n", "updateInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			cfg := filepath.Join(w.dir, "config.yaml")
			if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := standalone.Start(t.Context(), standalone.Options{
				AppID: "alpha", ListenAddresses: []string{"127.0.0.1"}, CADir: w.caDir, NameResolutionFile: w.nrFile,
				ConfigPath: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// Sidecars started at once on a fresh machine share one new CA: each
// trusts the others.
func TestConcurrentFirstUseMakesOneCA(t *testing.T) {
	w := newWorld(t)
	const n = 4
	sidecars := make(chan *standalone.Sidecar, n)
	errs := make(chan error, n)
	for i := range n {
		port := startApp(t, "app"+strconv.Itoa(i))
		go func() {
			s, err := standalone.Start(t.Context(), standalone.Options{
				AppID: "app" + strconv.Itoa(i), AppPort: port, ListenAddresses: []string{"127.0.0.1"},
				CADir: w.caDir, NameResolutionFile: w.nrFile, BaseDir: w.dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				errs <- err
				return
			}
			sidecars <- s
		}()
	}
	var all []*standalone.Sidecar
	for range n {
		select {
		case err := <-errs:
			t.Errorf("start: %v", err)
		case s := <-sidecars:
			all = append(all, s)
			t.Cleanup(func() { _ = s.Close(context.Background()) })
		}
	}
	if len(all) < 2 {
		t.Fatal("fewer than two sidecars started")
	}
	for i, s := range all {
		target := all[(i+1)%len(all)].Registration().AppID
		status, _, body := invoke(t, s, target, "x", nil)
		if status != http.StatusOK {
			t.Errorf("%s -> %s: status %d: %s", s.Registration().AppID, target, status, body)
		}
	}
}

func TestAPITokensAndAccessControlAcrossSidecars(t *testing.T) {
	w := newWorld(t)
	cfg := filepath.Join(w.dir, "beta-config.yaml")
	acl := `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: beta
spec:
  accessControl:
    defaultAction: deny
    policies:
    - appId: alpha
      trustDomain: public
      namespace: default
      defaultAction: deny
      operations:
      - name: /allowed/**
        httpVerb: [POST]
        action: allow
`
	if err := os.WriteFile(cfg, []byte(acl), 0o644); err != nil {
		t.Fatal(err)
	}
	alpha := w.start(t, "alpha", startApp(t, "alpha"), func(o *standalone.Options) { o.APIToken = "alpha-token" })
	gamma := w.start(t, "gamma", startApp(t, "gamma"))
	w.start(t, "beta", startApp(t, "beta"), func(o *standalone.Options) { o.ConfigPath, o.AppAPIToken = cfg, "beta-app-token" })

	withToken := map[string]string{"dapr-api-token": "alpha-token"}
	tests := []struct {
		name       string
		from       *standalone.Sidecar
		method     string
		hdr        map[string]string
		wantStatus int
		wantBody   string
		wantToken  string
	}{
		{name: "no API token", from: alpha, method: "allowed/x", wantStatus: http.StatusUnauthorized, wantBody: "ERR_UNAUTHORIZED"},
		{name: "allowed operation carries the callee's app token, not the caller's", from: alpha, method: "allowed/x", hdr: withToken,
			wantStatus: http.StatusOK, wantToken: "beta-app-token"},
		{name: "operation the policy denies", from: alpha, method: "private", hdr: withToken,
			wantStatus: http.StatusForbidden, wantBody: "access control policy has denied access to appid: alpha"},
		{name: "caller the policy does not name", from: gamma, method: "allowed/x",
			wantStatus: http.StatusForbidden, wantBody: "access control policy has denied access to appid: gamma"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got, body := invoke(t, tc.from, "beta", tc.method, tc.hdr)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("status %d, body %s; want %d with %q", status, body, tc.wantStatus, tc.wantBody)
			}
			if status == http.StatusOK && (got.App != "beta" || got.Token != tc.wantToken) {
				t.Errorf("app %q saw token %q; want beta with %q", got.App, got.Token, tc.wantToken)
			}
		})
	}
}
