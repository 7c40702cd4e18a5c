package edge

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/routing"
)

func TestCORSPreflight(t *testing.T) {
	full := &routing.CORS{
		AllowedOrigins:   []string{"https://app.example", "https://*.partner.example"},
		AllowedMethods:   []string{"GET", "PUT"},
		AllowedHeaders:   []string{"Content-Type", "X-Token"},
		ExposeHeaders:    []string{"X-Request-Id"},
		MaxAge:           600,
		AllowCredentials: true,
	}
	anyOrigin := &routing.CORS{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"*"}, AllowedHeaders: []string{"*"}}
	anyWithCreds := &routing.CORS{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"*"}, AllowedHeaders: []string{"*"}, AllowCredentials: true}
	tests := []struct {
		name   string
		cors   *routing.CORS
		origin string
		status int
		want   map[string]string
	}{
		{"allowed origin", full, "https://app.example", http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example",
			"Access-Control-Allow-Methods":     "GET, PUT",
			"Access-Control-Allow-Headers":     "Content-Type, X-Token",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "600",
		}},
		{"wildcard subdomain", full, "https://eu.partner.example", http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":      "https://eu.partner.example",
			"Access-Control-Allow-Methods":     "GET, PUT",
			"Access-Control-Allow-Headers":     "Content-Type, X-Token",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "600",
		}},
		{"wildcard needs a label", full, "https://partner.example", http.StatusForbidden, map[string]string{}},
		{"other scheme", full, "http://app.example", http.StatusForbidden, map[string]string{}},
		{"unknown origin", full, "https://evil.example", http.StatusForbidden, map[string]string{}},
		{"any origin", anyOrigin, "https://x.example", http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "*",
			"Access-Control-Allow-Headers": "*",
		}},
		{"any origin with credentials echoes", anyWithCreds, "https://x.example", http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":      "https://x.example",
			"Access-Control-Allow-Methods":     "PUT",
			"Access-Control-Allow-Headers":     "x-token",
			"Access-Control-Allow-Credentials": "true",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			env := newEnv(t, Options{}, appWith("web", routing.Ingress{AllowInsecure: true, CORS: tt.cors}, protoReplica(t, "web", "web-a", &calls)))
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, env.public.URL+"/api", nil)
			req.Host = "web.localhost"
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", "PUT")
			req.Header.Set("Access-Control-Request-Headers", "x-token")
			res, err := newClient(t, nil).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := map[string]string{}
			for k := range res.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					got[k] = res.Header.Get(k)
				}
			}
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("the app saw %d preflight requests; the edge must answer them", n)
			}
		})
	}
}

func TestCORSActualRequests(t *testing.T) {
	cors := &routing.CORS{
		AllowedOrigins:   []string{"https://app.example"},
		ExposeHeaders:    []string{"X-Request-Id", "X-Trace"},
		AllowCredentials: true,
	}
	// The app sets its own, wrong, CORS header; the edge's policy wins.
	up := replica(t, "web", "web-a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://wrong.example")
		w.Write([]byte("ok"))
	})
	env := newEnv(t, Options{}, appWith("web", routing.Ingress{AllowInsecure: true, CORS: cors}, up))
	tests := []struct {
		name   string
		method string
		origin string
		want   map[string]string
	}{
		{"allowed origin", http.MethodGet, "https://app.example", map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "X-Request-Id, X-Trace",
		}},
		{"OPTIONS that is not a preflight reaches the app", http.MethodOptions, "https://app.example", map[string]string{
			"Access-Control-Allow-Origin":      "https://app.example",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "X-Request-Id, X-Trace",
		}},
		{"disallowed origin keeps the app's headers", http.MethodGet, "https://evil.example", map[string]string{
			"Access-Control-Allow-Origin": "https://wrong.example",
		}},
		{"same-origin request", http.MethodGet, "", map[string]string{
			"Access-Control-Allow-Origin": "https://wrong.example",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, env.public.URL+"/", nil)
			req.Host = "web.localhost"
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			res, err := newClient(t, nil).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			got := map[string]string{}
			for k, v := range res.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					got[k] = strings.Join(v, " | ")
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStickySessions(t *testing.T) {
	eps := []routing.Endpoint{
		protoReplica(t, "web", "web-a", nil),
		protoReplica(t, "web", "web-b", nil),
		protoReplica(t, "web", "web-c", nil),
	}
	sticky := func(eps ...routing.Endpoint) *routing.App {
		return appWith("web", routing.Ingress{AllowInsecure: true, Sticky: true}, eps...)
	}
	env := newEnv(t, Options{}, sticky(eps...))
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, nil)
	c.Jar = jar
	url := "http://web.localhost/"
	c.Transport.(*http.Transport).DialContext = dialTo(env.public.Listener.Addr().String())

	hits := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			got[get(t, c, url, nil).seen.Replica]++
		}
		return got
	}
	first := get(t, c, url, nil)
	if !strings.Contains(first.header.Get("Set-Cookie"), affinityCookie+"="+first.seen.Replica) {
		t.Fatalf("first response set no affinity cookie: %q", first.header.Get("Set-Cookie"))
	}
	pinned := first.seen.Replica
	if diff := cmp.Diff(map[string]int{pinned: 20}, hits(20)); diff != "" {
		t.Errorf("requests per replica while pinned (-want +got):\n%s", diff)
	}

	// The pinned replica leaves: the client falls back to another one and
	// is pinned to it from then on.
	var rest []routing.Endpoint
	for _, ep := range eps {
		if ep.Replica != pinned {
			rest = append(rest, ep)
		}
	}
	env.routes.Store(routing.NewTable([]*routing.App{sticky(rest...)}))
	fallback := get(t, c, url, nil)
	if fallback.status != http.StatusOK || fallback.seen.Replica == pinned {
		t.Fatalf("after %s left: %d from %q", pinned, fallback.status, fallback.seen.Replica)
	}
	if !strings.Contains(fallback.header.Get("Set-Cookie"), affinityCookie+"="+fallback.seen.Replica) {
		t.Errorf("fallback response did not re-pin: Set-Cookie %q", fallback.header.Get("Set-Cookie"))
	}
	if diff := cmp.Diff(map[string]int{fallback.seen.Replica: 20}, hits(20)); diff != "" {
		t.Errorf("requests per replica after the fallback (-want +got):\n%s", diff)
	}

	t.Run("without affinity", func(t *testing.T) {
		env := newEnv(t, Options{}, appWith("web", routing.Ingress{AllowInsecure: true}, eps...))
		c := newClient(t, nil)
		c.Jar, _ = cookiejar.New(nil)
		c.Transport.(*http.Transport).DialContext = dialTo(env.public.Listener.Addr().String())
		got := map[string]int{}
		for range 9 {
			r := get(t, c, url, nil)
			if sc := r.header.Get("Set-Cookie"); sc != "" {
				t.Fatalf("Set-Cookie %q without sticky sessions", sc)
			}
			got[r.seen.Replica]++
		}
		if diff := cmp.Diff(map[string]int{"web-a": 3, "web-b": 3, "web-c": 3}, got); diff != "" {
			t.Errorf("round robin (-want +got):\n%s", diff)
		}
	})
}

// TestTableSwapInFlight checks that a new table applies to the next request
// while a request already proxied under the old one completes.
func TestTableSwapInFlight(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Bool
	slow := replica(t, "web", "web-a", func(w http.ResponseWriter, r *http.Request) {
		started.Store(true)
		<-release
		w.Write([]byte("old"))
	})
	env := newEnv(t, Options{}, external("web", slow))
	c := newClient(t, nil)
	type outcome struct {
		status int
		body   string
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, env.public.URL, nil)
		req.Host = "web.localhost"
		res, err := c.Do(req)
		if err != nil {
			done <- outcome{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- outcome{status: res.StatusCode, body: string(b), err: err}
	}()
	eventually(t, "the request to reach the replica", started.Load)

	env.routes.Store(routing.NewTable([]*routing.App{external("web", replica(t, "web", "web-b", nil))}))
	if r := do(t, c, env.public.URL, "web.localhost", nil); r.body != "web-b" {
		t.Errorf("next request went to %q, want the new table's web-b", r.body)
	}
	close(release)
	select {
	case r := <-done:
		if r.err != nil || r.status != http.StatusOK || r.body != "old" {
			t.Errorf("in-flight request: %d %q %v, want 200 \"old\"", r.status, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never completed")
	}
}
