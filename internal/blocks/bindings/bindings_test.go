package bindings_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/components"
	cbind "github.com/cove-env/cove/internal/components/bindings"
	bhttp "github.com/cove-env/cove/internal/components/bindings/http"
	"github.com/cove-env/cove/internal/components/bindings/localstorage"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/resiliency"
)

func retries(n int) func(string) *resiliency.Policy {
	return func(string) *resiliency.Policy {
		return &resiliency.Policy{Retry: &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: time.Millisecond, MaxRetries: n}}
	}
}

func add(t *testing.T, s *bindings.Service, name, typ string, b cbind.Output, props map[string]string) {
	t.Helper()
	md := components.Metadata{Name: name, Type: typ, Version: "v1", Properties: props}
	if err := b.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := s.Add(md, b); err != nil {
		t.Fatal(err)
	}
}

// TestOutboundPolicy: a failing call is retried under the binding's
// outbound policy; a request the binding refuses is not.
func TestOutboundPolicy(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	s := bindings.New("app", bindings.Options{Outbound: retries(5)})
	add(t, s, "web", bhttp.Type, bhttp.New(), map[string]string{"url": srv.URL})
	add(t, s, "files", localstorage.Type, localstorage.New(), map[string]string{"rootPath": t.TempDir()})

	resp, err := s.Invoke(t.Context(), "web", &bindings.Request{Operation: "get"})
	if err != nil || resp.Metadata["statusCode"] != "200" || calls.Load() != 3 {
		t.Fatalf("Invoke = %v, %v after %d calls; want success on the third", resp, err, calls.Load())
	}
	start := time.Now()
	_, err = s.Invoke(t.Context(), "files", &bindings.Request{Operation: "get", Metadata: map[string]string{"fileName": "../x"}})
	var de *daprerr.Error
	if !errors.As(err, &de) || de.Kind != daprerr.InvokeOutputBinding || !errors.Is(err, cbind.ErrInvalid) {
		t.Fatalf("escape = %v", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Error("a refused request was retried")
	}
}

func TestChecks(t *testing.T) {
	s := bindings.New("app", bindings.Options{})
	add(t, s, "files", localstorage.Type, localstorage.New(), map[string]string{"rootPath": t.TempDir()})
	for _, c := range []struct {
		name string
		req  bindings.Request
		want string
	}{
		{"files", bindings.Request{}, "error invoking output binding files: operation field is missing from request"},
		{"nope", bindings.Request{Operation: "get"}, "error invoking output binding nope: couldn't find output binding nope"},
		{"files", bindings.Request{Operation: "query"}, "binding files does not support operation query. supported operations: create get list delete"},
	} {
		_, err := s.Invoke(t.Context(), c.name, &c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Invoke(%s, %q) = %v; want %q", c.name, c.req.Operation, err, c.want)
		}
	}
	if got := s.Bindings(); len(got) != 1 || got[0].Name != "files" || got[0].Capabilities[0] != "OUTPUT_BINDING" {
		t.Errorf("Bindings() = %+v", got)
	}
}

// TestMetrics: invocations are counted under daprd's output binding
// metrics, with its labels, refused ones included.
func TestMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	d, err := metrics.NewDapr(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := d.Sidecar("app", metrics.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := bindings.New("app", bindings.Options{Metrics: rec})
	add(t, s, "files", localstorage.Type, localstorage.New(), map[string]string{"rootPath": t.TempDir()})
	_, _ = s.Invoke(t.Context(), "files", &bindings.Request{Operation: "create", Data: []byte("x"), Metadata: map[string]string{"fileName": "a"}})
	_, _ = s.Invoke(t.Context(), "files", &bindings.Request{Operation: "get", Metadata: map[string]string{"fileName": "missing"}})
	rr := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, w := range []string{
		`dapr_component_output_binding_count{app_id="app",component="files",namespace="default",operation="create",success="true"} 1`,
		`dapr_component_output_binding_count{app_id="app",component="files",namespace="default",operation="get",success="false"} 1`,
		`dapr_component_output_binding_latencies_count{app_id="app",component="files",namespace="default",operation="create",success="true"} 1`,
	} {
		if !strings.Contains(rr.Body.String(), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// TestDirection: a component whose direction leaves output out is no
// output binding, as in daprd; direction is not an unknown key.
func TestDirection(t *testing.T) {
	s := bindings.New("app", bindings.Options{})
	for _, c := range []struct{ name, direction string }{{"in", "input"}, {"both", "input, Output"}, {"plain", ""}} {
		props := map[string]string{"rootPath": t.TempDir()}
		if c.direction != "" {
			props["direction"] = c.direction
		}
		add(t, s, c.name, localstorage.Type, localstorage.New(), props)
	}
	var names []string
	for _, b := range s.Bindings() {
		names = append(names, b.Name)
	}
	if strings.Join(names, " ") != "both plain" {
		t.Errorf("output bindings = %v; want both and plain (in is input only)", names)
	}
}
