package actors

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dapr/dapr/pkg/placement/hashing"

	"github.com/cove-env/cove/internal/components/componenttest"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/placement"
)

// peers forwards calls between the runtimes of a test, as sidecars'
// CallActor does.
type peers map[string]*Runtime

func (ps peers) CallActor(ctx context.Context, addr string, req *Request) (*Response, error) {
	return ps[addr].InvokeLocal(ctx, req)
}

func startPlacementService(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- placement.Serve(ctx, placement.Config{Listener: ln}) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func hostNames(p *Placement, typ string) map[string]bool {
	out := map[string]bool{}
	if r := (*p.table.Load())[typ]; r != nil {
		for _, h := range r.owner {
			out[fmt.Sprint(h.name, h.remote)] = true
		}
	}
	return out
}

func TestRemotePlacementAgreesWithDaprdAndForwards(t *testing.T) {
	addr := startPlacementService(t)
	ps := peers{}
	names := []string{"127.0.0.1:50002", "127.0.0.1:50003"}
	var places []*Placement
	var runtimes []*Runtime
	var hosts []*Host
	for i, name := range names {
		p := NewRemotePlacement(RemoteOptions{Address: addr, AppID: "shop"})
		rt := newRuntime(t, "shop", p, Options{})
		ps[name] = rt
		p.Start(name, ps)
		t.Cleanup(p.Close)
		app := newFakeApp(t, fmt.Sprint("app", i))
		h := app.host(rt, `{"entities":["Cart"]}`)
		t.Cleanup(func() { h.Close(context.Background()) })
		places, runtimes, hosts = append(places, p), append(runtimes, rt), append(hosts, h)
	}
	for _, p := range places {
		waitFor(t, func() bool { return len(hostNames(p, "Cart")) == 2 })
	}

	// daprd's own hashing over the same table places every actor where
	// cove does.
	loadMap := map[string]*hashing.Host{}
	for _, n := range names {
		loadMap[n] = hashing.NewHost(n, "shop", 0, 0)
	}
	ring := hashing.NewFromExisting(loadMap, 100, hashing.NewVirtualNodesCache())
	seen := map[string]int{}
	for i := range 40 {
		id := fmt.Sprint("cart-", i)
		want, err := ring.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		wantApp := fmt.Sprint("app", map[string]int{names[0]: 0, names[1]: 1}[want])
		for _, rt := range runtimes {
			res, err := rt.Invoke(t.Context(), &Request{Type: "Cart", ID: id, Method: "add"})
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if got, _, _ := strings.Cut(string(res.Body), " "); got != wantApp {
				t.Fatalf("%s ran on %s, daprd places it on %s (%s)", id, got, wantApp, want)
			}
		}
		seen[wantApp]++
	}
	if len(seen) != 2 {
		t.Fatalf("40 actors all on one host: %v", seen)
	}

	// A host that leaves leaves both sidecars' tables: its actors run on
	// the other.
	hosts[1].Close(context.Background())
	for _, p := range places {
		waitFor(t, func() bool { return len(hostNames(p, "Cart")) == 1 })
	}
	for i := range 10 {
		res, err := runtimes[1].Invoke(t.Context(), &Request{Type: "Cart", ID: fmt.Sprint("cart-", i), Method: "add"})
		if err != nil || !strings.HasPrefix(string(res.Body), "app0 ") {
			t.Fatalf("after the leave: %v %s", err, res.Body)
		}
	}
}

// TestRemotePlacementDeactivatesMovedActors checks that a sidecar whose
// actors a new table places elsewhere deactivates them when the update
// comes, and keeps the others.
func TestRemotePlacementDeactivatesMovedActors(t *testing.T) {
	addr := startPlacementService(t)
	ps := peers{}
	names := []string{"127.0.0.1:50012", "127.0.0.1:50013"}
	var places []*Placement
	var apps []*fakeApp
	for i, name := range names {
		p := NewRemotePlacement(RemoteOptions{Address: addr, AppID: "shop"})
		ps[name] = newRuntime(t, "shop", p, Options{})
		p.Start(name, ps)
		t.Cleanup(p.Close)
		places, apps = append(places, p), append(apps, newFakeApp(t, fmt.Sprint("app", i)))
	}
	ha := apps[0].host(ps[names[0]], `{"entities":["Cart"]}`)
	t.Cleanup(func() { ha.Close(context.Background()) })
	waitFor(t, func() bool { return len(hostNames(places[0], "Cart")) == 1 })
	for i := range 20 {
		if _, err := ps[names[0]].Invoke(t.Context(), &Request{Type: "Cart", ID: fmt.Sprint("cart-", i), Method: "add"}); err != nil {
			t.Fatal(err)
		}
	}
	hb := apps[1].host(ps[names[1]], `{"entities":["Cart"]}`)
	t.Cleanup(func() { hb.Close(context.Background()) })
	waitFor(t, func() bool { return len(hostNames(places[0], "Cart")) == 2 })

	loadMap := map[string]*hashing.Host{}
	for _, n := range names {
		loadMap[n] = hashing.NewHost(n, "shop", 0, 0)
	}
	ring := hashing.NewFromExisting(loadMap, 100, hashing.NewVirtualNodesCache())
	var moved []string
	for i := range 20 {
		if h, _ := ring.Get(fmt.Sprint("cart-", i)); h == names[1] {
			moved = append(moved, fmt.Sprint("Cart/cart-", i))
		}
	}
	if len(moved) == 0 || len(moved) == 20 {
		t.Fatalf("%d of 20 actors move: pick other ids", len(moved))
	}
	// The update is acknowledged once they are deactivated: by the time
	// the other sidecar has the table, app0 was told.
	waitFor(t, func() bool { return len(hostNames(places[1], "Cart")) == 2 })
	waitFor(t, func() bool { return len(apps[0].deactivations()) >= len(moved) })
	got := apps[0].deactivations()
	slices.Sort(got)
	slices.Sort(moved)
	if !slices.Equal(got, moved) {
		t.Fatalf("app0 deactivated %v, want the moved %v", got, moved)
	}
}

// cartSidecars starts sidecars of app shop, named names, over the
// placement service at addr, each with a fake app hosting Cart, and waits
// for the table to have them all.
func cartSidecars(t *testing.T, addr string, names []string, runtime func(*Placement) *Runtime) (peers, []*Placement, []*fakeApp, []*Host) {
	ps := peers{}
	var places []*Placement
	var apps []*fakeApp
	var hosts []*Host
	for i, name := range names {
		p := NewRemotePlacement(RemoteOptions{Address: addr, AppID: "shop"})
		ps[name] = runtime(p)
		p.Start(name, ps)
		t.Cleanup(p.Close)
		app := newFakeApp(t, fmt.Sprint("app", i))
		h := app.host(ps[name], `{"entities":["Cart"]}`)
		t.Cleanup(func() { h.Close(context.Background()) })
		places, apps, hosts = append(places, p), append(apps, app), append(hosts, h)
	}
	for _, p := range places {
		waitFor(t, func() bool { return len(hostNames(p, "Cart")) == len(names) })
	}
	return ps, places, apps, hosts
}

// TestRemotePlacementSidecarsShareScheduledReminders: sidecars sharing a
// jobs file share its reminders; each occurrence fires once, on the
// sidecar hosting the actor, even for a reminder created through the
// other one.
func TestRemotePlacementSidecarsShareScheduledReminders(t *testing.T) {
	addr := startPlacementService(t)
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jobs.db")
	names := []string{"127.0.0.1:50032", "127.0.0.1:50033"}
	ps, places, apps, hosts := cartSidecars(t, addr, names, func(p *Placement) *Runtime {
		// Each sidecar has its scheduler over the shared file, as cove
		// sidecar processes do.
		s := openJobs(t, path)
		t.Cleanup(func() { s.Close() })
		return newRuntime(t, "shop", p, Options{Store: store, Scheduler: s})
	})
	// An actor the second sidecar hosts, its reminder created through the
	// first.
	var id string
	for i := 0; id == ""; i++ {
		owner, err := places[0].Lookup("Cart", fmt.Sprint("cart-", i))
		if err != nil {
			t.Fatal(err)
		}
		if owner.remote {
			id = fmt.Sprint("cart-", i)
		}
	}
	if err := ps[names[0]].CreateReminder(t.Context(), hosts[0], ReminderRequest{Type: "Cart", ID: id, Name: "r", Period: "R3/PT1S"}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ps[names[1]], hosts[1], "Cart", id, "r")
	if n0, n1 := apps[0].calls.Load(), apps[1].calls.Load(); n0 != 0 || n1 != 3 {
		t.Fatalf("the reminder fired %d times on the first sidecar and %d on the actor's, want 0 and 3", n0, n1)
	}
}
