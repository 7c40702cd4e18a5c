package upstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares a small GET to a loopback server through this
// transport with the same GET through net/http's Transport, both with
// kept-alive connections. Each iteration does one of each; the reported
// upstream/nethttp ratio is below 1 when this transport is faster.
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	std := &http.Transport{Proxy: nil, DisableCompression: true}
	b.Cleanup(std.CloseIdleConnections)
	ours := &Transport{Fallback: std}
	b.Cleanup(ours.CloseIdleConnections)

	get := func(rt http.RoundTripper) time.Duration {
		start := time.Now()
		req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, srv.URL, nil)
		if err != nil {
			b.Fatal(err)
		}
		res, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("GET: %d %v", res.StatusCode, err)
		}
		return time.Since(start)
	}
	var tStd, tOurs time.Duration
	n := 0
	for b.Loop() {
		tStd += get(std)
		tOurs += get(ours)
		n++
	}
	b.ReportMetric(float64(tStd.Nanoseconds())/float64(n), "nethttp-ns/req")
	b.ReportMetric(float64(tOurs.Nanoseconds())/float64(n), "upstream-ns/req")
	b.ReportMetric(float64(tOurs)/float64(tStd), "upstream/nethttp")
}
