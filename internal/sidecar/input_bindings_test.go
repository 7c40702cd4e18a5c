package sidecar

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings/cron"
)

// cronApp answers daprd's probe and sends the path of every event it gets.
func cronApp(t *testing.T) (addr string, got chan string) {
	t.Helper()
	got = make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			got <- r.URL.Path
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), got
}

func newCronBindings(t *testing.T) *bindings.Service {
	t.Helper()
	s := bindings.New("app", bindings.Options{})
	b := cron.New()
	md := components.Metadata{Name: "tick", Type: cron.Type, Version: "v1", Properties: map[string]string{"schedule": "@every 1s"}}
	if err := b.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := s.AddInput(md, b); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInputBindingsShareTheSubscriptionsLife: a sidecar reads its app's
// input bindings once the app is up, holds their events while the app is
// unhealthy, and stops reading at StopSubscriptions, before it closes.
func TestInputBindingsShareTheSubscriptionsLife(t *testing.T) {
	addr, got := cronApp(t)
	s := newCronBindings(t)
	env := newEnv(t, Config{AppID: "app", AppAddr: addr, Bindings: s, InputBindings: s})
	select {
	case p := <-got:
		if p != "/tick" {
			t.Errorf("event at %s; want /tick", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cron event within 5s")
	}
	env.sc.SetAppHealthy(false)
	time.Sleep(200 * time.Millisecond)
	for len(got) > 0 {
		<-got
	}
	select {
	case p := <-got:
		t.Fatalf("an event at %s while the app is unhealthy", p)
	case <-time.After(1500 * time.Millisecond):
	}
	env.sc.SetAppHealthy(true)
	select {
	case <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("no event once the app is healthy again")
	}
	resp, body := do(t, http.MethodGet, env.url+"/v1.0/metadata", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"INPUT_BINDING"`) {
		t.Errorf("metadata = %d %s; want the binding with INPUT_BINDING", resp.StatusCode, body)
	}
	env.sc.StopSubscriptions()
	for len(got) > 0 {
		<-got
	}
	select {
	case p := <-got:
		t.Fatalf("an event at %s after StopSubscriptions", p)
	case <-time.After(1500 * time.Millisecond):
	}
}
