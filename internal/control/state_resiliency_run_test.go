package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/inmemory"
)

// flakyType is a state store for tests: the in-memory store behind a
// shim that fails its first `failures` calls and holds every Get for
// `getDelay` (or until cancelled). Instances are kept by component name so
// a test can count the calls that reached them.
const flakyType = "state.covetest-flaky"

var flakyStores sync.Map // component name -> *flakyStore

func init() {
	components.Register(components.Info{Type: flakyType, New: func() any { return &flakyStore{Store: inmemory.New()} }})
}

type flakyStore struct {
	*inmemory.Store

	mu       sync.Mutex
	failures int
	getDelay time.Duration
	calls    int
}

func (s *flakyStore) Init(ctx context.Context, md components.Metadata) error {
	if v, ok := md.Property("failures"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("failures: %w", err)
		}
		s.failures = n
	}
	if d, ok, err := md.Duration("getDelay"); err != nil {
		return err
	} else if ok {
		s.getDelay = d
	}
	flakyStores.Store(md.Name, s)
	return s.Store.Init(ctx, md)
}

func (s *flakyStore) attempt() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failures > 0 {
		s.failures--
		return errors.New("store unreachable")
	}
	return nil
}

func (s *flakyStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *flakyStore) Get(ctx context.Context, req *cstate.GetRequest) (*cstate.GetResponse, error) {
	if err := s.attempt(); err != nil {
		return nil, err
	}
	if s.getDelay > 0 {
		t := time.NewTimer(s.getDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Store.Get(ctx, req)
}

func (s *flakyStore) Set(ctx context.Context, req *cstate.SetRequest) error {
	if err := s.attempt(); err != nil {
		return err
	}
	return s.Store.Set(ctx, req)
}

// TestRunAppliesComponentResiliency runs a Dapr app whose cove.yaml lists
// a Resiliency file with outbound policies for its state stores, and
// drives the state API of its sidecar over HTTP.
func TestRunAppliesComponentResiliency(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "app.yaml", `
name: shop
properties:
  configuration:
    ingress: {targetPort: 8000}
    dapr: {enabled: true, appId: shop, appPort: 8000}
  template:
    containers:
      - {name: main, image: x}
`)
	flaky := func(md string) string {
		return "componentType: " + flakyType + "\nversion: v1\nmetadata:\n" + md
	}
	write(t, dir, "flaky.yaml", flaky("  - {name: failures, value: \"2\"}\n"))
	write(t, dir, "slow.yaml", flaky("  - {name: getDelay, value: 10s}\n"))
	write(t, dir, "plain.yaml", flaky("  - {name: failures, value: \"0\"}\n"))
	write(t, dir, "res.yaml", `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: stores}
scopes: [shop]
spec:
  policies:
    timeouts: {quick: 200ms}
    retries:
      fast: {policy: constant, duration: 10ms, maxRetries: 3}
  targets:
    components:
      flaky:
        outbound: {retry: fast}
      slow:
        outbound: {timeout: quick}
      plain:
        outbound: {retry: fast}
`)
	write(t, dir, "cove.yaml", fmt.Sprintf(`
resiliency:
  - file: res.yaml
apps:
  - file: app.yaml
    command: [%q]
    env: {COVE_TEST_APP: "1"}
components:
  - {name: flaky, file: flaky.yaml}
  - {name: slow, file: slow.yaml}
  - {name: plain, file: plain.yaml}
`, exe))
	st := runEnv(t, dir, nil)
	sidecar := fmt.Sprintf("http://127.0.0.1:%d", st.Apps[0].Replicas[0].DaprHTTPPort)
	call := func(method, path, body string, header map[string]string) (int, string) {
		t.Helper()
		return httpCall(t, method, sidecar+path, body, header)
	}
	store := func(name string) *flakyStore {
		s, ok := flakyStores.Load(name)
		if !ok {
			t.Fatalf("component %s was not loaded", name)
		}
		return s.(*flakyStore)
	}

	t.Run("failures retried to success", func(t *testing.T) {
		code, body := call(http.MethodPost, "/v1.0/state/flaky", `[{"key":"k","value":"v"}]`, nil)
		if code != http.StatusNoContent {
			t.Fatalf("save: %d %s, want 204 after retries", code, body)
		}
		if n := store("flaky").count(); n != 3 {
			t.Errorf("store called %d times, want 3 (two failures, then success)", n)
		}
	})
	t.Run("slow store times out", func(t *testing.T) {
		code, body := call(http.MethodGet, "/v1.0/state/slow/k", "", nil)
		if code != http.StatusInternalServerError || !strings.Contains(body, `"errorCode":"ERR_STATE_GET"`) ||
			!strings.Contains(body, "context deadline exceeded") {
			t.Errorf("get: %d %s, want 500 ERR_STATE_GET with the deadline", code, body)
		}
	})
	t.Run("etag conflict answered at once", func(t *testing.T) {
		code, body := call(http.MethodPost, "/v1.0/state/plain", `[{"key":"k","value":"v"}]`, nil)
		if code != http.StatusNoContent {
			t.Fatalf("save: %d %s", code, body)
		}
		before := store("plain").count()
		code, body = call(http.MethodPost, "/v1.0/state/plain", `[{"key":"k","value":"w","etag":"12345"}]`, nil)
		if code != http.StatusConflict || !strings.Contains(body, `"errorCode":"ERR_STATE_SAVE"`) {
			t.Errorf("save with a stale etag: %d %s, want 409 ERR_STATE_SAVE", code, body)
		}
		if n := store("plain").count() - before; n != 1 {
			t.Errorf("store called %d times for a conflict, want 1", n)
		}
	})
}
