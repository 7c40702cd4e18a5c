package actors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkInvoke measures an actor call through the runtime to an app on
// loopback: to one actor (every call waits its turn) and spread over many.
func BenchmarkInvoke(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer app.Close()
	for _, ids := range []int{1, 1000} {
		b.Run(fmt.Sprintf("actors=%d", ids), func(b *testing.B) {
			p := NewPlacement()
			rt := newRuntime(b, "app", p, Options{})
			hc, _ := ParseHostConfig([]byte(`{"entities":["T"]}`))
			h := rt.Host(HostOptions{Name: "a", Config: hc, AppAddr: app.Listener.Addr().String(),
				Transport: &http.Transport{MaxIdleConnsPerHost: 256}})
			defer h.Close(context.Background())
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprint(n.Add(1) % int64(ids))
					if _, err := rt.Invoke(context.Background(), &Request{Type: "T", ID: id, Method: "m"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
