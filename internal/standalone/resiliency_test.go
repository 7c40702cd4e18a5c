package standalone_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cove-env/cove/internal/standalone"
)

// TestResiliencyFromResourcesPath puts a Dapr Resiliency file in the
// calling sidecar's resources path, as daprd users do: its retry policy for
// the target app turns two failures of a flaky app into a success, and the
// called sidecar does not retry again (the app sees exactly three calls).
// A Resiliency scoped to another app is not applied.
func TestResiliencyFromResourcesPath(t *testing.T) {
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"app":"flaky"}`))
	}))
	t.Cleanup(flaky.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(flaky.URL, "http://"), ":")
	flakyPort, _ := strconv.Atoi(port)

	w := newWorld(t)
	resources := func(scope string) string {
		dir := t.TempDir()
		yaml := `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: retry-flaky
spec:
  policies:
    retries:
      three:
        policy: constant
        duration: 10ms
        maxRetries: 3
  targets:
    apps:
      flaky:
        retry: three
scopes: [` + scope + `]
`
		if err := os.WriteFile(filepath.Join(dir, "resiliency.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	w.start(t, "flaky", flakyPort)
	caller := w.start(t, "caller", 0, func(o *standalone.Options) { o.ResourcesPaths = []string{resources("caller")} })
	other := w.start(t, "other", 0, func(o *standalone.Options) { o.ResourcesPaths = []string{resources("someone-else")} })

	status, got, body := invoke(t, caller, "flaky", "work", nil)
	if status != http.StatusOK || got.App != "flaky" || calls.Load() != 3 {
		t.Fatalf("through the caller with a retry policy: %d %q after %d calls, want 200 after 3", status, body, calls.Load())
	}
	calls.Store(0)
	if status, _, _ := invoke(t, other, "flaky", "work", nil); status != http.StatusServiceUnavailable || calls.Load() != 1 {
		t.Fatalf("a policy scoped to another app applied: %d after %d calls, want 503 after 1", status, calls.Load())
	}
}
