package actors

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// BenchmarkInvoke compares an actor call through the runtime to an app on
// loopback (to one actor, and spread over many) with the same PUT sent to
// the app directly over the same transport, one call at a time. Each
// iteration does one of each; actor/direct is what the runtime's lookup,
// turn and answer handling add to the HTTP call.
func BenchmarkInvoke(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer app.Close()
	for _, ids := range []int{1, 1000} {
		b.Run(fmt.Sprintf("actors=%d", ids), func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			defer tr.CloseIdleConnections()
			p := NewPlacement()
			rt := newRuntime(b, "app", p, Options{})
			hc, _ := ParseHostConfig([]byte(`{"entities":["T"]}`))
			h := rt.Host(HostOptions{Name: "a", Config: hc, AppAddr: app.Listener.Addr().String(), Transport: tr})
			defer h.Close(context.Background())
			direct := func(id string) error {
				req, err := http.NewRequest(http.MethodPut, app.URL+"/actors/T/"+id+"/method/m", http.NoBody)
				if err != nil {
					return err
				}
				res, err := tr.RoundTrip(req)
				if err != nil {
					return err
				}
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
				return err
			}
			var calls int
			var tDirect, tActor time.Duration
			b.ReportAllocs()
			for b.Loop() {
				id := strconv.Itoa(calls % ids)
				calls++
				start := time.Now()
				if err := direct(id); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if _, err := rt.Invoke(context.Background(), &Request{Type: "T", ID: id, Method: "m"}); err != nil {
					b.Fatal(err)
				}
				tDirect += mid.Sub(start)
				tActor += time.Since(mid)
			}
			b.ReportMetric(float64(tDirect.Nanoseconds())/float64(calls), "direct-ns/call")
			b.ReportMetric(float64(tActor.Nanoseconds())/float64(calls), "actor-ns/call")
			b.ReportMetric(float64(tActor)/float64(tDirect), "actor/direct")
		})
	}
}
