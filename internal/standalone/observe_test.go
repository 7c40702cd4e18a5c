package standalone_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
