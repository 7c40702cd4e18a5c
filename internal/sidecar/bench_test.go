package sidecar

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/metrics"
)

// BenchmarkInvokeVsDirect compares one invocation through the sidecar
// (client → sidecar HTTP API on a real listener → app) with a direct call
// from the same client to the same httptest app, alternating the two in
// each iteration so both see the same machine load. It reports each
// latency and the ratio sidecar/direct.
func BenchmarkInvokeVsDirect(b *testing.B) {
	env := newEnv(b, Config{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	direct := env.app.URL + "/orders/1?x=1"
	viaSidecar := env.url + "/v1.0/invoke/orders/method/orders/1?x=1"
	call := func(url string) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: status %d", url, resp.StatusCode)
		}
	}
	call(direct)
	call(viaSidecar)

	var n int
	var tDirect, tSidecar time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		call(direct)
		t1 := time.Now()
		call(viaSidecar)
		tSidecar += time.Since(t1)
		tDirect += t1.Sub(t0)
		n++
	}
	b.ReportMetric(float64(tDirect.Nanoseconds())/float64(n), "direct-ns/call")
	b.ReportMetric(float64(tSidecar.Nanoseconds())/float64(n), "sidecar-ns/call")
	b.ReportMetric(float64(tSidecar)/float64(tDirect), "sidecar/direct")
}

// BenchmarkInvokeHandler measures the sidecar's own share of an invocation:
// its handler called directly, a minimal app reached over loopback. The
// allocations reported are the sidecar's, its transport's, the test
// request's and the (small) app's.
func BenchmarkInvokeHandler(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Length"] = []string{"2"}
		_, _ = w.Write([]byte("ok"))
	}))
	b.Cleanup(app.Close)
	sc, err := New(Config{AppID: "frontend", Invoker: invoke.New(fixedResolver(app.Listener.Addr().String()), invoke.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	h := sc.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/v1.0/invoke/orders/method/orders/1?x=1", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// fixedResolver sends every app id to one address.
type fixedResolver string

func (r fixedResolver) Resolve(_ context.Context, appID string) (invoke.Target, error) {
	return invoke.Target{AppID: appID, Addr: string(r)}, nil
}

// BenchmarkMetricsOverhead compares the invocation handler with and without
// metrics (daprd's default labels), alternating the two in each iteration,
// and reports the ratio with/without: what recording a call costs.
func BenchmarkMetricsOverhead(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Length"] = []string{"2"}
		_, _ = w.Write([]byte("ok"))
	}))
	b.Cleanup(app.Close)
	d, err := metrics.NewDapr(metrics.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	rec, err := d.Sidecar("frontend", metrics.HTTPOptions{IncreasedCardinality: true})
	if err != nil {
		b.Fatal(err)
	}
	handler := func(m *metrics.Sidecar) http.Handler {
		sc, err := New(Config{AppID: "frontend", Metrics: m,
			Invoker: invoke.New(fixedResolver(app.Listener.Addr().String()), invoke.Options{})})
		if err != nil {
			b.Fatal(err)
		}
		return sc.Handler()
	}
	plain, measured := handler(nil), handler(rec)
	call := func(h http.Handler) time.Duration {
		req := httptest.NewRequest(http.MethodGet, "/v1.0/invoke/orders/method/orders/1?x=1", nil)
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(start)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return d
	}
	var tPlain, tMeasured time.Duration
	n := 0
	for b.Loop() {
		tPlain += call(plain)
		tMeasured += call(measured)
		n++
	}
	b.ReportMetric(float64(tPlain.Nanoseconds())/float64(n), "plain-ns/call")
	b.ReportMetric(float64(tMeasured.Nanoseconds())/float64(n), "metrics-ns/call")
	b.ReportMetric(float64(tMeasured)/float64(tPlain), "metrics/plain")
}
