package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/routing"
)

// BenchmarkPublicOverhead compares one small GET sent through the public
// handler, served on a real loopback listener, with the same GET sent
// straight to the upstream app. Both use keep-alive connections; each
// iteration does one of each, and the reported proxied/direct ratio is the
// cost of the extra hop (parse, route, proxy, second connection) relative to
// the bare request.
func BenchmarkPublicOverhead(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(upstream.Close)
	src := &routing.Source{}
	src.Store(routing.NewTable([]*routing.App{external("web", routing.Endpoint{
		App: "web", Replica: "web-a", Addr: upstream.Listener.Addr().String(),
	})}))
	edge := httptest.NewServer(New(Options{Routes: src}).PublicHandler())
	b.Cleanup(edge.Close)
	c := newClient(b, nil)

	get := func(url, host string) time.Duration {
		start := time.Now()
		req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Host = host
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
		}
		return time.Since(start)
	}

	var direct, proxied time.Duration
	n := 0
	for b.Loop() {
		direct += get(upstream.URL, "")
		proxied += get(edge.URL, "web.localhost")
		n++
	}
	b.ReportMetric(float64(direct.Nanoseconds())/float64(n), "direct-ns/req")
	b.ReportMetric(float64(proxied.Nanoseconds())/float64(n), "proxied-ns/req")
	b.ReportMetric(float64(proxied)/float64(direct), "proxied/direct")
}
