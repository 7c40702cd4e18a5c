package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/componenttest"
	cstate "github.com/cove-env/cove/internal/components/state"
	_ "github.com/cove-env/cove/internal/components/state/inmemory"
	_ "github.com/cove-env/cove/internal/components/state/redis"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

func TestParseHostConfig(t *testing.T) {
	hc, err := ParseHostConfig([]byte(`{"entities":["A","B"],"actorIdleTimeout":"10m","actorScanInterval":"5s",
		"reentrancy":{"enabled":true},"entitiesConfig":[{"entities":["B"],"actorIdleTimeout":"1s","reentrancy":{"enabled":false,"maxStackDepth":4}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]TypeConfig{
		"A": {IdleTimeout: 10 * time.Minute, DrainTimeout: DefaultDrainTimeout, DrainRebalanced: true, Reentrancy: true, MaxStackDepth: 32},
		"B": {IdleTimeout: time.Second, DrainTimeout: DefaultDrainTimeout, DrainRebalanced: true, MaxStackDepth: 4},
	}
	if fmt.Sprint(hc.Types) != fmt.Sprint(want) || hc.ScanInterval != 5*time.Second {
		t.Fatalf("got %+v every %v, want %+v", hc.Types, hc.ScanInterval, want)
	}
	_, err = ParseHostConfig([]byte(`{"entities":["A"],"entitiesConfig":[{"entities":["A"],"drainOngoingCallTimeout":"soon"}]}`))
	if err == nil || !strings.Contains(err.Error(), "entitiesConfig[0].drainOngoingCallTimeout") {
		t.Fatalf("err = %v, want one naming entitiesConfig[0].drainOngoingCallTimeout", err)
	}
}

func TestSchedule(t *testing.T) {
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		period string
		fires  int // -1: no end
		step   time.Duration
	}{
		{"", 1, 0}, {"2s", -1, 2 * time.Second}, {"PT1M30S", -1, 90 * time.Second}, {"R3/PT1S", 3, time.Second},
		{"P1W", -1, 7 * 24 * time.Hour},
	} {
		s, err := newSchedule("1s", c.period, "", now)
		if err != nil {
			t.Fatalf("%q: %v", c.period, err)
		}
		at, n := s.due, 1
		if !at.Equal(now.Add(time.Second)) {
			t.Fatalf("%q: due %v", c.period, at)
		}
		for ; n < 10; n++ {
			next, ok := s.next(at)
			if !ok {
				break
			}
			if next.Sub(at) != c.step {
				t.Fatalf("%q: step %v, want %v", c.period, next.Sub(at), c.step)
			}
			at = next
		}
		if c.fires == -1 && n != 10 || c.fires != -1 && n != c.fires {
			t.Fatalf("%q fired %d times, want %d", c.period, n, c.fires)
		}
	}
	// A ttl ends a period; months follow the calendar.
	s, err := newSchedule("0s", "P1M", "P2M", now)
	if err != nil {
		t.Fatal(err)
	}
	next, ok := s.next(s.due)
	if !ok || next.Month() != time.March {
		t.Fatalf("next = %v %v", next, ok)
	}
	if _, ok := s.next(next); ok {
		t.Fatal("fired after its ttl")
	}
	for _, bad := range []struct{ due, period, ttl, field string }{
		{"soon", "", "", "dueTime"}, {"", "R0/PT1S", "", "period"}, {"", "PT1.5S", "", "period"},
		{"", "R2/1s", "", "period"}, {"", "1s", "yesterday", "ttl"}, {"R2/PT1S", "", "", "dueTime"},
	} {
		if _, err := newSchedule(bad.due, bad.period, bad.ttl, now); err == nil || !strings.HasPrefix(err.Error(), bad.field) {
			t.Errorf("%+v: err = %v, want one naming %s", bad, err, bad.field)
		}
	}
	if s, err := newSchedule("2026-02-01T00:00:00Z", "", "", now); err != nil || !s.due.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("RFC 3339 due time: %v %v", s.due, err)
	}
}

// fakeApp is an actor app: it counts calls running at once per actor and
// the deactivations it is told of.
type fakeApp struct {
	srv         *httptest.Server
	name        string
	mu          sync.Mutex
	running     map[string]int
	overlaps    atomic.Int32
	calls       atomic.Int32
	deactivated []string
	status      int
	header      http.Header
}

func newFakeApp(t *testing.T, name string) *fakeApp {
	a := &fakeApp{name: name, running: map[string]int{}, status: http.StatusOK}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/actors/"), "/")
		key := parts[0] + "/" + parts[1]
		if r.Method == http.MethodDelete {
			a.mu.Lock()
			a.deactivated = append(a.deactivated, key)
			a.mu.Unlock()
			return
		}
		a.calls.Add(1)
		a.mu.Lock()
		a.running[key]++
		if a.running[key] > 1 {
			a.overlaps.Add(1)
		}
		a.mu.Unlock()
		time.Sleep(time.Millisecond)
		a.mu.Lock()
		a.running[key]--
		status, header := a.status, a.header
		a.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s %s %s", a.name, r.Method, strings.Join(parts[2:], "/"))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeApp) host(rt *Runtime, cfg string) *Host {
	hc, err := ParseHostConfig([]byte(cfg))
	if err != nil {
		panic(err)
	}
	return rt.Host(HostOptions{Name: a.name, Config: hc, AppAddr: a.srv.Listener.Addr().String()})
}

func (a *fakeApp) deactivations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.deactivated...)
}

func code(err error) string {
	var de *daprerr.Error
	if errors.As(err, &de) {
		return fmt.Sprintf("%s %d", de.Kind.Code, de.Status())
	}
	return fmt.Sprint(err)
}

func TestInvokeOneCallAtATimeAcrossHosts(t *testing.T) {
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	if _, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "1", Method: "m"}); code(err) != "ERR_ACTOR_NO_ADDRESS 404" {
		t.Fatalf("no host: %v", err)
	}
	apps := []*fakeApp{newFakeApp(t, "a"), newFakeApp(t, "b"), newFakeApp(t, "c")}
	for _, a := range apps {
		h := a.host(rt, `{"entities":["T"]}`)
		t.Cleanup(func() { h.Close(context.Background()) })
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			res, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: fmt.Sprint(i % 3), Method: "m"})
			if err != nil || res.Status != 200 || !strings.HasSuffix(string(res.Body), " PUT method/m") {
				t.Errorf("call: %v %+v", err, res)
			}
		})
	}
	wg.Wait()
	total := int32(0)
	for _, a := range apps {
		if n := a.overlaps.Load(); n != 0 {
			t.Fatalf("app %s ran %d calls of one actor at once", a.name, n)
		}
		total += a.calls.Load()
	}
	if total != 300 {
		t.Fatalf("%d calls reached the apps, want 300", total)
	}
}

func TestPlacementMovesOnlyTheLeavingHostsActors(t *testing.T) {
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	apps := []*fakeApp{newFakeApp(t, "a"), newFakeApp(t, "b"), newFakeApp(t, "c")}
	hosts := make([]*Host, len(apps))
	for i, a := range apps {
		hosts[i] = a.host(rt, `{"entities":["T"]}`)
	}
	before := map[string]*Host{}
	per := map[*Host]int{}
	for i := range 3000 {
		h, err := p.Lookup("T", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		before[fmt.Sprint(i)] = h
		per[h]++
	}
	for h, n := range per {
		if n < 500 {
			t.Fatalf("host %s has %d of 3000 actors: the ring is lopsided", h.name, n)
		}
	}
	// An actor activated on b moves once b leaves, deactivated there.
	var onB string
	for id, h := range before {
		if h == hosts[1] {
			onB = id
			break
		}
	}
	if res, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: onB, Method: "m"}); err != nil || !strings.HasPrefix(string(res.Body), "b ") {
		t.Fatalf("call on b: %v %+v", err, res)
	}
	hosts[1].Close(t.Context())
	if d := apps[1].deactivations(); len(d) != 1 || d[0] != "T/"+onB {
		t.Fatalf("b deactivated %v, want T/%s", d, onB)
	}
	for id, h := range before {
		now, _ := p.Lookup("T", id)
		if h != hosts[1] && now != h {
			t.Fatalf("actor %s moved from %s to %s though its host stayed", id, h.name, now.name)
		}
		if now == hosts[1] {
			t.Fatalf("actor %s still on the host that left", id)
		}
	}
	if res, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: onB, Method: "m"}); err != nil || strings.HasPrefix(string(res.Body), "b ") {
		t.Fatalf("call after b left: %v %+v", err, res)
	}
	hosts[0].Close(t.Context())
	hosts[2].Close(t.Context())
	if _, err := p.Lookup("T", "1"); code(err) != "ERR_ACTOR_NO_ADDRESS 404" {
		t.Fatalf("after every host left: %v", err)
	}
}

func TestIdleActorsAreDeactivated(t *testing.T) {
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"],"actorIdleTimeout":"200ms","actorScanInterval":"50ms"}`)
	defer h.Close(context.Background())
	if _, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "x", Method: "m"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if d := a.deactivations(); len(d) != 0 {
		t.Fatalf("deactivated before its idle timeout: %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.deactivations()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not deactivated after its idle timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := a.deactivations(); len(d) != 1 || d[0] != "T/x" {
		t.Fatalf("deactivated %v", d)
	}
}

func TestInvokeAppErrors(t *testing.T) {
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	defer h.Close(context.Background())
	a.status = http.StatusInternalServerError
	_, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "x", Method: "m"})
	if code(err) != "ERR_ACTOR_INVOKE_METHOD 500" || !strings.Contains(err.Error(), "error from actor service: (500)") {
		t.Fatalf("app's 500: %v", err)
	}
	// An error the actor marks as its own reaches the caller as written.
	a.mu.Lock()
	a.status, a.header = http.StatusTeapot, http.Header{ErrorResponseHeader: {"true"}}
	a.mu.Unlock()
	res, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "x", Method: "m"})
	if err != nil || res.Status != http.StatusTeapot {
		t.Fatalf("actor error: %v %+v", err, res)
	}
}

func TestTimerFiresThroughTheActorsTurn(t *testing.T) {
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	defer h.Close(context.Background())
	err := rt.CreateTimer(t.Context(), h, TimerRequest{Type: "T", ID: "x", Name: "t", Period: "bad"})
	if code(err) != "ERR_MALFORMED_REQUEST 400" || !strings.Contains(err.Error(), "period") {
		t.Fatalf("bad period: %v", err)
	}
	if err := rt.CreateTimer(t.Context(), nil, TimerRequest{Type: "T", ID: "x", Name: "t"}); code(err) != "ERR_ACTOR_INSTANCE_MISSING 400" {
		t.Fatalf("from a sidecar not hosting: %v", err)
	}
	if err := rt.CreateTimer(t.Context(), h, TimerRequest{Type: "T", ID: "x", Name: "t", DueTime: "10ms", Period: "R2/PT0S", Callback: "cb", Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d timer calls, want 2", a.calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := a.calls.Load(); n != 2 {
		t.Fatalf("%d timer calls, want 2", n)
	}
}

// redisStore is a state.redis store on the local Redis, and a client of
// it; the test skips without Redis unless COVE_REQUIRE_SERVICES is set.
func redisStore(t *testing.T) (cstate.Store, *redis.Client) {
	t.Helper()
	const addr = "127.0.0.1:6379"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		if os.Getenv("COVE_REQUIRE_SERVICES") != "" {
			t.Fatalf("redis: %v", err)
		}
		t.Skipf("redis: %v", err)
	} else {
		c.Close()
	}
	store, err := componenttest.Open[cstate.Store](t, "state.redis", map[string]string{"redisHost": addr})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return store, rdb
}

func TestActorStateInRedis(t *testing.T) {
	store, rdb := redisStore(t)
	app := "app" + componenttest.Unique()
	t.Cleanup(func() { rdb.Del(context.Background(), app+"||T||x||k", app+"||T||x||gone") })

	p := NewPlacement()
	if _, err := newRuntime(t, app, p, Options{}).GetState(t.Context(), nil, "T", "x", "k"); code(err) != "ERR_ACTOR_RUNTIME_NOT_FOUND 500" {
		t.Fatalf("no actor state store: %v", err)
	}
	rt := newRuntime(t, app, p, Options{Store: store})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	defer h.Close(context.Background())
	if _, err := rt.GetState(t.Context(), nil, "T", "x", "k"); code(err) != "ERR_ACTOR_INSTANCE_MISSING 400" {
		t.Fatalf("from a sidecar not hosting: %v", err)
	}
	err := rt.Transact(t.Context(), h, "T", "x", []StateOp{
		{Key: "k", Value: []byte(`{"n":1}`), Metadata: map[string]string{"ttlInSeconds": "60"}},
		{Key: "gone", Value: []byte(`1`)},
		{Key: "gone", Delete: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := rt.GetState(t.Context(), h, "T", "x", "k")
	if err != nil || string(data) != `{"n":1}` {
		t.Fatalf("get: %q %v", data, err)
	}
	if n, err := rdb.Exists(t.Context(), app+"||T||x||k").Result(); err != nil || n != 1 {
		t.Fatalf("key %s||T||x||k exists %d times (%v)", app, n, err)
	}
	if ttl, err := rdb.TTL(t.Context(), app+"||T||x||k").Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %v (%v), want up to a minute", ttl, err)
	}
	if data, err := rt.GetState(t.Context(), h, "T", "x", "gone"); err != nil || data != nil {
		t.Fatalf("deleted key: %q %v", data, err)
	}
	err = rt.Transact(t.Context(), h, "T", "x", []StateOp{{Key: "k", Value: []byte(`1`), Metadata: map[string]string{"ttlInSeconds": "soon"}}})
	if code(err) != "ERR_MALFORMED_REQUEST 400" {
		t.Fatalf("bad ttl: %v", err)
	}
}

// TestReentrancy: with reentrancy on, a call of an actor's method that
// calls the actor again (carrying the Dapr-Reentrancy-Id it was given) runs
// at once, up to maxStackDepth calls deep; without, it waits its turn.
func TestReentrancy(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("reentrancy ", on), func(t *testing.T) {
			p := NewPlacement()
			rt := newRuntime(t, "app", p, Options{})
			var depthErr atomic.Value
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rid := r.Header.Get(ReentrancyHeader)
				if on && rid == "" {
					http.Error(w, "no reentrancy id", http.StatusBadRequest)
					return
				}
				if strings.HasSuffix(r.URL.Path, "/method/outer") {
					ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)
					defer cancel()
					res, err := rt.Invoke(ctx, &Request{Type: "T", ID: "x", Method: "inner", Header: http.Header{ReentrancyHeader: {rid}}})
					if err != nil {
						http.Error(w, err.Error(), http.StatusConflict)
						return
					}
					w.Write(append([]byte("outer>"), res.Body...))
					return
				}
				if strings.HasSuffix(r.URL.Path, "/method/recurse") {
					_, err := rt.Invoke(r.Context(), &Request{Type: "T", ID: "x", Method: "recurse", Header: http.Header{ReentrancyHeader: {rid}}})
					if err != nil {
						depthErr.CompareAndSwap(nil, code(err))
					}
					return
				}
				fmt.Fprint(w, "inner")
			}))
			defer app.Close()
			hc, _ := ParseHostConfig([]byte(fmt.Sprintf(`{"entities":["T"],"reentrancy":{"enabled":%v,"maxStackDepth":4}}`, on)))
			h := rt.Host(HostOptions{Name: "a", Config: hc, AppAddr: app.Listener.Addr().String()})
			defer h.Close(context.Background())

			res, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "x", Method: "outer"})
			if on {
				if err != nil || string(res.Body) != "outer>inner" {
					t.Fatalf("reentrant call: %+v %v", res, err)
				}
				if _, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "x", Method: "recurse"}); err != nil {
					t.Fatal(err)
				}
				if got := depthErr.Load(); got != "ERR_ACTOR_MAX_STACK_DEPTH_EXCEEDED 500" {
					t.Fatalf("past maxStackDepth: %v", got)
				}
				return
			}
			// Without reentrancy the inner call waits for the outer one,
			// which gives up: the app's 409 comes back as an error.
			if err == nil || !strings.Contains(err.Error(), "(409)") {
				t.Fatalf("call back without reentrancy: %+v %v", res, err)
			}
		})
	}
}

// A host leaving waits for an actor's call in flight at most its type's
// drainOngoingCallTimeout.
func TestCloseDrainsOngoingCallsForTheDrainTimeout(t *testing.T) {
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/method/slow") {
			<-release
		}
	}))
	defer app.Close()
	defer close(release)
	hc, _ := ParseHostConfig([]byte(`{"entities":["T"],"drainOngoingCallTimeout":"200ms"}`))
	h := rt.Host(HostOptions{Name: "a", Config: hc, AppAddr: app.Listener.Addr().String()})
	if _, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: "quick", Method: "m"}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = rt.Invoke(context.Background(), &Request{Type: "T", ID: "busy", Method: "slow"}) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	h.Close(context.Background())
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("Close took %v, want about the 200ms drain timeout", d)
	}
}

// When a replica joins and takes over an actor with a call in flight on
// its old replica, the actor is deactivated there: after the call with
// drainRebalancedActors (the default), at once with the call cancelled
// without it, as daprd does.
func TestDrainRebalancedActors(t *testing.T) {
	for _, drain := range []bool{true, false} {
		t.Run(fmt.Sprint("drainRebalancedActors ", drain), func(t *testing.T) {
			cfg := fmt.Sprintf(`{"entities":["T"],"drainRebalancedActors":%v}`, drain)
			hc, err := ParseHostConfig([]byte(cfg))
			if err != nil {
				t.Fatal(err)
			}
			// An actor id that moves from a to b when b joins.
			scratch := NewPlacement()
			scratch.add(&Host{name: "a", cfg: hc})
			scratch.add(&Host{name: "b", cfg: hc})
			id := ""
			for i := 0; id == ""; i++ {
				if h, _ := scratch.Lookup("T", fmt.Sprint(i)); h.name == "b" {
					id = fmt.Sprint(i)
				}
			}

			p := NewPlacement()
			rt := newRuntime(t, "app", p, Options{})
			started, release := make(chan struct{}), make(chan struct{})
			var mu sync.Mutex
			var events []string
			note := func(e string) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, e)
			}
			seen := func() []string {
				mu.Lock()
				defer mu.Unlock()
				return append([]string(nil), events...)
			}
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					note("deactivated")
					return
				}
				close(started)
				select {
				case <-release:
					note("call done")
				case <-r.Context().Done():
				}
			}))
			defer app.Close()
			ha := rt.Host(HostOptions{Name: "a", Config: hc, AppAddr: app.Listener.Addr().String()})
			defer ha.Close(context.Background())
			res := make(chan error, 1)
			go func() {
				_, err := rt.Invoke(context.Background(), &Request{Type: "T", ID: id, Method: "slow"})
				res <- err
			}()
			<-started
			b := newFakeApp(t, "b")
			hb := b.host(rt, cfg)
			defer hb.Close(context.Background())

			if !drain {
				// Cancelled at once, and deactivated while its app still
				// runs the call.
				select {
				case err := <-res:
					if code(err) != "ERR_ACTOR_INVOKE_METHOD 500" || !strings.Contains(err.Error(), "moved") {
						t.Fatalf("the call in flight: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the call in flight was not cancelled")
				}
				waitFor(t, func() bool { return slices.Contains(seen(), "deactivated") })
				close(release)
				return
			}
			// Drained: the call runs to its end, then the actor is
			// deactivated.
			time.Sleep(200 * time.Millisecond)
			if e := seen(); len(e) != 0 {
				t.Fatalf("before the call in flight ended: %v", e)
			}
			close(release)
			if err := <-res; err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return len(seen()) == 2 })
			if e := seen(); e[0] != "call done" || e[1] != "deactivated" {
				t.Fatalf("events %v, want the call done, then the deactivation", e)
			}
		})
	}
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// policies are an app's resiliency for actor calls, fixed for a test.
type policies struct {
	call    func(id string) []*resiliency.Policy
	timeout time.Duration
}

func (p policies) Call(_, id string) []*resiliency.Policy { return p.call(id) }
func (p policies) Timeout(string) time.Duration           { return p.timeout }

// Resiliency targets.actors: retries and circuit breakers around a call,
// each attempt waiting for the actor's turn; the timeout bounds the app's
// work once the call has it; a missing method is not retried.
func TestActorCallPolicies(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/actors/"), "/")
		if len(parts) < 4 {
			return
		}
		id, method := parts[1], parts[3]
		mu.Lock()
		calls[id+"/"+method]++
		n := calls[id+"/"+method]
		mu.Unlock()
		switch method {
		case "flaky":
			if n <= 2 {
				http.Error(w, "not yet", http.StatusInternalServerError)
				return
			}
		case "actorError":
			w.Header().Set(ErrorResponseHeader, "true")
			w.WriteHeader(http.StatusBadRequest)
		case "missing":
			http.NotFound(w, r)
		case "fail":
			http.Error(w, "down", http.StatusInternalServerError)
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
		fmt.Fprint(w, method)
	}))
	defer app.Close()
	count := func(key string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[key]
	}
	trip, err := resiliency.CompileTrip("consecutiveFailures >= 2")
	if err != nil {
		t.Fatal(err)
	}
	retry := &resiliency.Retry{Name: "r", MaxRetries: 3, Interval: 10 * time.Millisecond}
	breakers := map[string]*resiliency.Breaker{}
	pol := policies{timeout: 200 * time.Millisecond, call: func(id string) []*resiliency.Policy {
		if strings.HasPrefix(id, "cb") { // an actor's own breaker, no retry
			if breakers[id] == nil {
				breakers[id] = resiliency.NewBreaker(resiliency.BreakerPolicy{Name: "cb", Trip: trip, Timeout: time.Hour}, nil)
			}
			return []*resiliency.Policy{{Breaker: breakers[id]}}
		}
		return []*resiliency.Policy{{Retry: retry}}
	}}
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{Policies: pol})
	hc, _ := ParseHostConfig([]byte(`{"entities":["T"]}`))
	h := rt.Host(HostOptions{Name: "a", Config: hc, AppAddr: app.Listener.Addr().String()})
	defer h.Close(context.Background())
	invoke := func(id, method string) (*Response, error) {
		return rt.Invoke(t.Context(), &Request{Type: "T", ID: id, Method: method})
	}

	if res, err := invoke("x", "flaky"); err != nil || string(res.Body) != "flaky" || count("x/flaky") != 3 {
		t.Fatalf("retried call: %+v %v after %d calls", res, err, count("x/flaky"))
	}
	if _, err := invoke("x", "missing"); code(err) != "ERR_ACTOR_INVOKE_METHOD 500" || count("x/missing") != 1 {
		t.Fatalf("missing method: %v after %d calls, want 1", err, count("x/missing"))
	}
	// The actor's own error is retried as daprd retries it, and reaches the
	// caller as the app wrote it.
	if res, err := invoke("x", "actorError"); err != nil || res.Status != http.StatusBadRequest || count("x/actorError") != 4 {
		t.Fatalf("actor error: %+v %v after %d calls, want 4", res, err, count("x/actorError"))
	}
	_, err = rt.Invoke(t.Context(), &Request{Type: "T", ID: "cb-1", Method: "slow"})
	if code(err) != "ERR_ACTOR_INVOKE_METHOD 500" || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("past the timeout: %v", err)
	}
	// cb-1 failed once (the timeout); one more failure trips its breaker,
	// which then answers without calling the app. cb-2 has its own.
	if _, err := invoke("cb-1", "fail"); code(err) != "ERR_ACTOR_INVOKE_METHOD 500" {
		t.Fatal(err)
	}
	if _, err := invoke("cb-1", "fail"); code(err) != "ERR_ACTOR_INVOKE_METHOD 500" || !strings.Contains(err.Error(), "circuit breaker is open") || count("cb-1/fail") != 1 {
		t.Fatalf("open breaker: %v after %d calls, want 1", err, count("cb-1/fail"))
	}
	if res, err := invoke("cb-2", "ok"); err != nil || string(res.Body) != "ok" {
		t.Fatalf("another actor's breaker: %+v %v", res, err)
	}
}

// Replicas joining and leaving under a load of calls to a few actors:
// every call succeeds, and no two calls of one actor ever run at once,
// across all replicas (the actors move, each drained where it was).
func TestRebalancingUnderLoadNeverOverlaps(t *testing.T) {
	var mu sync.Mutex
	running := map[string]int{}
	overlaps := 0
	app := func() *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				return
			}
			mu.Lock()
			running[r.URL.Path]++
			if running[r.URL.Path] > 1 {
				overlaps++
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			running[r.URL.Path]--
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	p := NewPlacement()
	rt := newRuntime(t, "app", p, Options{})
	hc, _ := ParseHostConfig([]byte(`{"entities":["T"]}`))
	join := func(name string) *Host {
		return rt.Host(HostOptions{Name: name, Config: hc, AppAddr: app().Listener.Addr().String()})
	}
	hosts := []*Host{join("a"), join("b")}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, failed atomic.Int32
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := rt.Invoke(t.Context(), &Request{Type: "T", ID: fmt.Sprint((w + i) % 5), Method: "m"}); err != nil {
					failed.Add(1)
					t.Errorf("call: %v", err)
				}
				calls.Add(1)
			}
		})
	}
	for i, name := range []string{"c", "d", "e", "f"} {
		before := calls.Load()
		waitFor(t, func() bool { return calls.Load() > before+50 })
		hosts = append(hosts, join(name))
		waitFor(t, func() bool { return calls.Load() > before+100 })
		hosts[i].Close(t.Context()) // a, b, c and d leave in turn
	}
	close(stop)
	wg.Wait()
	for _, h := range hosts[4:] {
		h.Close(context.Background())
	}
	if overlaps != 0 || failed.Load() != 0 {
		t.Fatalf("%d overlapping calls and %d failed of %d", overlaps, failed.Load(), calls.Load())
	}
}
