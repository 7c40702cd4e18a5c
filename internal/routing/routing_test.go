package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTCPTarget(t *testing.T) {
	in := &Ingress{
		External: true, Transport: TransportTCP, TargetPort: 5432, ExposedPort: 15432,
		AdditionalPorts: []PortMapping{
			{External: true, TargetPort: 9000, ExposedPort: 19000},
			{External: false, TargetPort: 9100, ExposedPort: 9100},
		},
	}
	internalTCP := &Ingress{Transport: TransportTCP, TargetPort: 6000, ExposedPort: 6000}
	httpApp := &Ingress{External: true, TargetPort: 8080, AdditionalPorts: []PortMapping{{External: true, TargetPort: 9000, ExposedPort: 9000}}}
	tests := []struct {
		name    string
		in      *Ingress
		exposed int
		inside  bool
		want    int
		wantOK  bool
	}{
		{name: "main exposed port from outside", in: in, exposed: 15432, want: 5432, wantOK: true},
		{name: "main target port is not exposed", in: in, exposed: 5432},
		{name: "external additional port from outside", in: in, exposed: 19000, want: 9000, wantOK: true},
		{name: "internal additional port from outside", in: in, exposed: 9100},
		{name: "internal additional port from inside", in: in, exposed: 9100, inside: true, want: 9100, wantOK: true},
		{name: "internal tcp app from outside", in: internalTCP, exposed: 6000},
		{name: "internal tcp app from inside", in: internalTCP, exposed: 6000, inside: true, want: 6000, wantOK: true},
		{name: "http app's main port is not tcp", in: httpApp, exposed: 8080, inside: true},
		{name: "http app's additional port", in: httpApp, exposed: 9000, want: 9000, wantOK: true},
		{name: "no ingress", in: nil, exposed: 9000, inside: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.in.TCPTarget(tt.exposed, tt.inside)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("TCPTarget(%d, %t) = %d, %t; want %d, %t", tt.exposed, tt.inside, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if diff := cmp.Diff([]int{15432, 19000}, in.ExternalTCPPorts()); diff != "" {
		t.Errorf("ExternalTCPPorts (-want +got):\n%s", diff)
	}
	if got := internalTCP.ExternalTCPPorts(); len(got) != 0 {
		t.Errorf("internal tcp app's ExternalTCPPorts = %v, want none", got)
	}
	// From inside, every TCP port counts; an HTTP app's main port is not one.
	for _, c := range []struct {
		in   *Ingress
		want []int
	}{{in, []int{15432, 19000, 9100}}, {internalTCP, []int{6000}}, {httpApp, []int{9000}}, {nil, nil}} {
		if diff := cmp.Diff(c.want, c.in.TCPPorts()); diff != "" {
			t.Errorf("TCPPorts (-want +got):\n%s", diff)
		}
	}
}

func TestPickLeastLoaded(t *testing.T) {
	app := &App{Name: "web", Endpoints: []Endpoint{{Replica: "a"}, {Replica: "b"}, {Replica: "c"}}}
	src := &Source{}
	src.Store(NewTable([]*App{app}))
	pick := func() string {
		ep, ok := app.PickLeastLoaded()
		if !ok {
			t.Fatal("no endpoint")
		}
		return ep.Replica
	}
	// Idle replicas share requests in turn.
	var got []string
	for range 6 {
		got = append(got, pick())
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c"}, got); diff != "" {
		t.Errorf("idle picks (-want +got):\n%s", diff)
	}
	// Two requests stuck on a and one on b: c gets the next ones until it
	// is as loaded.
	a, _ := app.Endpoint("a")
	b, _ := app.Endpoint("b")
	doneA1, doneA2, doneB := a.Begin(), a.Begin(), b.Begin()
	if r := pick(); r != "c" {
		t.Errorf("with a=2 b=1 c=0 picked %s, want c", r)
	}
	c, _ := app.Endpoint("c")
	doneC := c.Begin()
	if r := pick(); r != "b" && r != "c" {
		t.Errorf("with a=2 b=1 c=1 picked %s, want b or c", r)
	}

	// A new table (a replica became ready) keeps the counts in flight.
	next := &App{Name: "web", Endpoints: []Endpoint{{Replica: "a"}, {Replica: "b"}, {Replica: "c"}, {Replica: "d"}}}
	src.Store(NewTable([]*App{next}))
	for _, ep := range next.Endpoints {
		want := map[string]int64{"a": 2, "b": 1, "c": 1, "d": 0}[ep.Replica]
		if ep.Outstanding() != want {
			t.Errorf("after the swap %s has %d outstanding, want %d", ep.Replica, ep.Outstanding(), want)
		}
	}
	doneA1()
	doneA1() // done is idempotent
	doneA2()
	doneB()
	doneC()
	for _, ep := range next.Endpoints {
		if ep.Outstanding() != 0 {
			t.Errorf("%s has %d outstanding after every request finished", ep.Replica, ep.Outstanding())
		}
	}
}

// TestInvocationsInFlight counts Dapr invocations apart from the edge's
// requests: they leave the least-loaded pick alone, but InFlight, which a
// retiring revision waits on, includes them, across table swaps too.
func TestInvocationsInFlight(t *testing.T) {
	app := &App{Name: "web", DaprAppID: "web", Endpoints: []Endpoint{{Replica: "a"}, {Replica: "b"}}}
	src := &Source{}
	src.Store(NewTable([]*App{app}))
	a, _ := app.Endpoint("a")
	inv1, inv2 := a.BeginInvocation(), a.BeginInvocation()
	req := a.Begin()
	if a.Outstanding() != 1 || a.InFlight() != 3 {
		t.Errorf("a: %d outstanding, %d in flight; want 1 and 3", a.Outstanding(), a.InFlight())
	}
	// Invocations do not make a look busier to the edge: with one edge
	// request each, the pick takes turns.
	b, _ := app.Endpoint("b")
	reqB := b.Begin()
	picked := map[string]bool{}
	for range 2 {
		ep, _ := app.PickLeastLoaded()
		picked[ep.Replica] = true
	}
	if !picked["a"] || !picked["b"] {
		t.Errorf("with one edge request each and invocations on a, the picks were %v; want both", picked)
	}
	req()
	reqB()

	// The replica left the table (its revision is retiring): the endpoint
	// taken from the old table still counts the invocations in flight.
	src.Store(NewTable([]*App{{Name: "web", DaprAppID: "web", Endpoints: []Endpoint{{Replica: "b"}}}}))
	inv1()
	inv1() // done is idempotent
	if a.InFlight() != 1 {
		t.Errorf("after one invocation finished, a has %d in flight, want 1", a.InFlight())
	}
	inv2()
	if a.InFlight() != 0 {
		t.Errorf("after every invocation finished, a has %d in flight", a.InFlight())
	}
}

func TestCustomDomainIndex(t *testing.T) {
	tbl := NewTable([]*App{
		{Name: "b", Ingress: &Ingress{CustomDomains: []string{"shop.example.com", "b.example.com"}}},
		{Name: "a", Ingress: &Ingress{CustomDomains: []string{"shop.example.com"}}},
		{Name: "none"},
	})
	tests := []struct {
		name string
		host string
		want string
	}{
		{name: "claimed twice goes to the first by name", host: "shop.example.com", want: "a"},
		{name: "claimed once", host: "b.example.com", want: "b"},
		{name: "unknown", host: "c.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if a, ok := tbl.CustomDomain(tt.host); ok {
				got = a.Name
			}
			if got != tt.want {
				t.Errorf("CustomDomain(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestRevisionHostNames(t *testing.T) {
	v1 := &Revision{Name: "web--v1", Weight: 80, Aliases: []string{"web---stable"}, Endpoints: []Endpoint{{Replica: "web--v1-0"}, {Replica: "web--v1-1"}}}
	v2 := &Revision{Name: "web--v2", Weight: 20, Aliases: []string{"web---canary"}, Endpoints: []Endpoint{{Replica: "web--v2-0"}}}
	web := &App{Name: "web", Revisions: []*Revision{v1, v2}}
	// A revision host name never hides an app of that name.
	shadow := &App{Name: "api", Revisions: []*Revision{{Name: "web", Weight: 100, Endpoints: []Endpoint{{Replica: "api-0"}}}}}
	tbl := NewTable([]*App{web, shadow})
	tests := []struct {
		host     string
		app      string
		replicas []string // every replica the host's picks reach
	}{
		{host: "web", app: "web", replicas: []string{"web--v1-0", "web--v1-1", "web--v2-0"}},
		{host: "web--v1", app: "web", replicas: []string{"web--v1-0", "web--v1-1"}},
		{host: "web---stable", app: "web", replicas: []string{"web--v1-0", "web--v1-1"}},
		{host: "web--v2", app: "web", replicas: []string{"web--v2-0"}},
		{host: "web---canary", app: "web", replicas: []string{"web--v2-0"}},
		{host: "api", app: "api", replicas: []string{"api-0"}},
		{host: "web---green"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			a, ok := tbl.App(tc.host)
			if tc.app == "" {
				if ok {
					t.Fatalf("App(%q) found %s", tc.host, a.Name)
				}
				return
			}
			if !ok || a.Name != tc.app {
				t.Fatalf("App(%q) = %v, %t; want app %s", tc.host, a, ok, tc.app)
			}
			seen := map[string]bool{}
			for range 50 {
				for _, pick := range []func() (Endpoint, bool){a.Pick, a.PickLeastLoaded} {
					ep, ok := pick()
					if !ok {
						t.Fatal("no endpoint")
					}
					seen[ep.Replica] = true
				}
			}
			var got []string
			for r := range seen {
				got = append(got, r)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tc.replicas, got); diff != "" {
				t.Errorf("replicas reached through %s (-want +got):\n%s", tc.host, diff)
			}
			// Sticky sessions look a replica up within what the host reaches.
			_, other := a.Endpoint("web--v2-0")
			if want := slices.Contains(tc.replicas, "web--v2-0"); other != want {
				t.Errorf("Endpoint(web--v2-0) through %s = %t, want %t", tc.host, other, want)
			}
		})
	}
}

// splitOf counts which revision n picks go to.
func splitOf(t *testing.T, a *App, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		ep, ok := a.PickLeastLoaded()
		if !ok {
			t.Fatal("no endpoint")
		}
		got[ep.Revision]++
	}
	return got
}

func revision(name string, weight, replicas int) *Revision {
	r := &Revision{Name: name, Weight: weight}
	for i := range replicas {
		r.Endpoints = append(r.Endpoints, Endpoint{Revision: name, Replica: fmt.Sprintf("%s-%d", name, i)})
	}
	return r
}

func TestWeightedSplit(t *testing.T) {
	tests := []struct {
		name string
		revs []*Revision
		n    int
		want map[string]int
	}{
		{name: "80/20", revs: []*Revision{revision("v1", 80, 2), revision("v2", 20, 1)}, n: 100, want: map[string]int{"v1": 80, "v2": 20}},
		{name: "50/30/20", revs: []*Revision{revision("a", 50, 1), revision("b", 30, 3), revision("c", 20, 1)}, n: 100, want: map[string]int{"a": 50, "b": 30, "c": 20}},
		{name: "1/99", revs: []*Revision{revision("a", 1, 1), revision("b", 99, 1)}, n: 200, want: map[string]int{"a": 2, "b": 198}},
		{name: "a zero weight takes no turn", revs: []*Revision{revision("a", 100, 1), revision("b", 0, 1)}, n: 10, want: map[string]int{"a": 10}},
		{name: "weight of a revision with no ready replica goes to the only other", revs: []*Revision{revision("v1", 80, 0), revision("v2", 20, 1)}, n: 10, want: map[string]int{"v2": 10}},
		{name: "weight of a revision with no ready replica goes to the others in proportion", revs: []*Revision{revision("a", 50, 0), revision("b", 30, 1), revision("c", 20, 2)}, n: 100, want: map[string]int{"b": 60, "c": 40}},
		{name: "no weighted revision ready: the others share evenly", revs: []*Revision{revision("a", 100, 0), revision("b", 0, 1), revision("c", 0, 1)}, n: 10, want: map[string]int{"b": 5, "c": 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &App{Name: "web", Revisions: tt.revs}
			NewTable([]*App{a})
			if diff := cmp.Diff(tt.want, splitOf(t, a, tt.n)); diff != "" {
				t.Errorf("split over %d requests (-want +got):\n%s", tt.n, diff)
			}
		})
	}

	// The turns spread out rather than come in runs.
	a := &App{Name: "web", Revisions: []*Revision{revision("v1", 80, 1), revision("v2", 20, 1)}}
	NewTable([]*App{a})
	var order []string
	for range 10 {
		ep, _ := a.Pick()
		order = append(order, ep.Revision)
	}
	if diff := cmp.Diff([]string{"v1", "v1", "v2", "v1", "v1", "v1", "v1", "v2", "v1", "v1"}, order); diff != "" {
		t.Errorf("order of 80/20 picks (-want +got):\n%s", diff)
	}

	// Nothing ready at all.
	none := &App{Name: "web", Revisions: []*Revision{revision("v1", 100, 0)}}
	NewTable([]*App{none})
	if _, ok := none.PickLeastLoaded(); ok {
		t.Error("picked an endpoint of an app with no ready replica")
	}
	if _, ok := none.Pick(); ok {
		t.Error("Pick found an endpoint of an app with no ready replica")
	}
}

func TestPickAnyReachesEveryRevision(t *testing.T) {
	a := &App{Name: "web", DaprAppID: "web", Revisions: []*Revision{revision("v1", 100, 1), revision("v2", 0, 2)}}
	tbl := NewTable([]*App{a})
	d, _ := tbl.DaprApp("web")
	got := map[string]int{}
	for range 30 {
		ep, ok := d.PickAny()
		if !ok {
			t.Fatal("no endpoint")
		}
		got[ep.Replica]++
	}
	if diff := cmp.Diff(map[string]int{"v1-0": 10, "v2-0": 10, "v2-1": 10}, got); diff != "" {
		t.Errorf("PickAny over 30 calls (-want +got):\n%s", diff)
	}
}

// TestConcurrentPicks picks from many goroutines: the split is still exact,
// and swapping tables under the pickers keeps in-flight counts right.
func TestConcurrentPicks(t *testing.T) {
	a := &App{Name: "web", Revisions: []*Revision{revision("web--v1", 80, 3), revision("web--v2", 20, 2)}}
	src := &Source{}
	src.Store(NewTable([]*App{a}))
	const workers, each = 8, 500
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := map[string]int{}
			for range each {
				app, _ := src.Load().App("web")
				ep, ok := app.PickLeastLoaded()
				if !ok {
					t.Error("no endpoint")
					return
				}
				done := ep.Begin()
				local[ep.Revision]++
				done()
			}
			mu.Lock()
			for k, v := range local {
				got[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"web--v1": workers * each * 80 / 100, "web--v2": workers * each * 20 / 100}, got); diff != "" {
		t.Errorf("split of %d concurrent picks (-want +got):\n%s", workers*each, diff)
	}

	// Tables swapped while requests are in flight.
	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src.Store(NewTable([]*App{{Name: "web", Revisions: []*Revision{revision("web--v1", 80-i%80, 3), revision("web--v2", 20+i%80, 2)}}}))
		}
	})
	for range workers {
		wg.Go(func() {
			for range each {
				app, _ := src.Load().App("web--v2")
				ep, ok := app.Pick()
				if !ok || ep.Revision != "web--v2" {
					t.Errorf("web--v2 picked %+v, %t", ep, ok)
					return
				}
				done := ep.Begin()
				done()
			}
		})
	}
	wg.Wait()
	close(stop)
	swaps.Wait()
	app, _ := src.Load().App("web")
	for _, ep := range app.Endpoints {
		if n := ep.Outstanding(); n != 0 {
			t.Errorf("%s has %d outstanding after every request finished", ep.Replica, n)
		}
	}
}

// BenchmarkPick compares the per-request cost of choosing a replica by
// weight and then least load (PickLeastLoaded) with the cheapest pick the
// same replicas allow: one of the app's endpoints at random (math/rand/v2),
// weights and load ignored. One revision, as in single revision mode, and
// an 80/20 split; picks run on every core at once, as requests do. Each
// goroutine alternates blocks of picks of each kind and reads the clock
// once a block, which a pick of a few nanoseconds could not afford;
// policy/random is what the weighted turn, the shared counters and the
// load scan cost over a random pick.
func BenchmarkPick(b *testing.B) {
	const block = 64
	for _, tc := range []struct {
		name string
		revs []*Revision
	}{
		{name: "one revision", revs: []*Revision{revision("web--v1", 100, 3)}},
		{name: "80/20", revs: []*Revision{revision("web--v1", 80, 3), revision("web--v2", 20, 3)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := &App{Name: "web", Revisions: tc.revs}
			NewTable([]*App{a})
			random := func() (Endpoint, bool) {
				eps := a.Endpoints
				if len(eps) == 0 {
					return Endpoint{}, false
				}
				return eps[rand.IntN(len(eps))], true
			}
			// run picks with pick until block picks or the benchmark's
			// iterations are done; it returns how many and how long.
			run := func(pb *testing.PB, pick func() (Endpoint, bool)) (int64, time.Duration) {
				start := time.Now()
				n := int64(0)
				for ; n < block && pb.Next(); n++ {
					if _, ok := pick(); !ok {
						b.Error("no endpoint")
					}
				}
				return n, time.Since(start)
			}
			var nRandom, nPolicy, tRandom, tPolicy atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for {
					n, d := run(pb, random)
					nRandom.Add(n)
					tRandom.Add(int64(d))
					if n < block {
						return
					}
					n, d = run(pb, a.PickLeastLoaded)
					nPolicy.Add(n)
					tPolicy.Add(int64(d))
					if n < block {
						return
					}
				}
			})
			random1 := float64(tRandom.Load()) / float64(max(nRandom.Load(), 1))
			policy1 := float64(tPolicy.Load()) / float64(max(nPolicy.Load(), 1))
			b.ReportMetric(random1, "random-ns/pick")
			b.ReportMetric(policy1, "policy-ns/pick")
			b.ReportMetric(policy1/random1, "policy/random")
		})
	}
}
