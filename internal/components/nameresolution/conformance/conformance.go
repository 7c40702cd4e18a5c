package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components/nameresolution"
)

// NewFunc returns an initialised registry with the implementation's
// connection metadata plus props (updateInterval). Two calls with the same
// t must share storage, as two processes pointed at one registry do. The
// constructor registers its own cleanup.
type NewFunc func(t *testing.T, props map[string]string) nameresolution.Registry

// Run runs the suite. App ids are unique per run, so several runs may
// share one server.
func Run(t *testing.T, newRegistry NewFunc) {
	prefix := uniqueID()
	app := func(name string) string { return prefix + "-" + name }
	reg := func(appID, inst, addr string) nameresolution.Registration {
		return nameresolution.Registration{Namespace: "default", AppID: appID, InstanceID: inst, Address: addr}
	}

	t.Run("register, look up, deregister", func(t *testing.T) {
		r := newRegistry(t, nil)
		a, b := reg(app("orders"), "b", "127.0.0.1:2"), reg(app("orders"), "a", "127.0.0.1:1")
		for _, x := range []nameresolution.Registration{a, b} {
			if err := r.Register(t.Context(), x); err != nil {
				t.Fatalf("Register: %v", err)
			}
		}
		got, err := r.Lookup(t.Context(), "default", app("orders"))
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if diff := cmp.Diff([]nameresolution.Registration{b, a}, got); diff != "" {
			t.Errorf("Lookup (-want +got):\n%s", diff)
		}
		if err := r.Deregister(t.Context(), a); err != nil {
			t.Fatalf("Deregister: %v", err)
		}
		got, err = r.Lookup(t.Context(), "default", app("orders"))
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if diff := cmp.Diff([]nameresolution.Registration{b}, got); diff != "" {
			t.Errorf("Lookup after Deregister (-want +got):\n%s", diff)
		}
		if err := r.Deregister(t.Context(), a); err != nil {
			t.Errorf("Deregister of an unknown instance: %v", err)
		}
		_ = r.Deregister(t.Context(), b)
	})

	t.Run("unknown app and other namespace are empty", func(t *testing.T) {
		r := newRegistry(t, nil)
		x := reg(app("ns"), "i", "127.0.0.1:3")
		if err := r.Register(t.Context(), x); err != nil {
			t.Fatalf("Register: %v", err)
		}
		t.Cleanup(func() { _ = r.Deregister(t.Context(), x) })
		tests := []struct{ name, ns, app string }{
			{"unknown app", "default", app("nobody")},
			{"other namespace", "other", app("ns")},
		}
		for _, tc := range tests {
			got, err := r.Lookup(t.Context(), tc.ns, tc.app)
			if err != nil || len(got) != 0 {
				t.Errorf("%s: Lookup = %v, %v; want nothing", tc.name, got, err)
			}
		}
	})

	t.Run("refresh replaces the address", func(t *testing.T) {
		r := newRegistry(t, nil)
		x := reg(app("moving"), "i", "127.0.0.1:4")
		if err := r.Register(t.Context(), x); err != nil {
			t.Fatalf("Register: %v", err)
		}
		x.Address = "127.0.0.1:5"
		if err := r.Register(t.Context(), x); err != nil {
			t.Fatalf("Register again: %v", err)
		}
		t.Cleanup(func() { _ = r.Deregister(t.Context(), x) })
		got, err := r.Lookup(t.Context(), "default", x.AppID)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if diff := cmp.Diff([]nameresolution.Registration{x}, got); diff != "" {
			t.Errorf("Lookup (-want +got):\n%s", diff)
		}
	})

	t.Run("invalid registration is refused", func(t *testing.T) {
		r := newRegistry(t, nil)
		if err := r.Register(t.Context(), reg(app("bad"), "i", "")); err == nil {
			t.Error("Register without an address succeeded")
		}
	})

	t.Run("instances share registrations", func(t *testing.T) {
		r1, r2 := newRegistry(t, nil), newRegistry(t, nil)
		x := reg(app("shared"), "i", "127.0.0.1:6")
		if err := r1.Register(t.Context(), x); err != nil {
			t.Fatalf("Register: %v", err)
		}
		got, err := r2.Lookup(t.Context(), "default", x.AppID)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if diff := cmp.Diff([]nameresolution.Registration{x}, got); diff != "" {
			t.Errorf("Lookup through another instance (-want +got):\n%s", diff)
		}
		if err := r2.Deregister(t.Context(), x); err != nil {
			t.Fatalf("Deregister: %v", err)
		}
		if got, _ := r1.Lookup(t.Context(), "default", x.AppID); len(got) != 0 {
			t.Errorf("Lookup after another instance deregistered = %v", got)
		}
	})

	t.Run("registration expires without heartbeats", func(t *testing.T) {
		r := newRegistry(t, map[string]string{"updateInterval": "1s"})
		if r.UpdateInterval() != time.Second || r.TTL() != nameresolution.TTLFactor*time.Second {
			t.Fatalf("UpdateInterval, TTL = %v, %v; want 1s, %v", r.UpdateInterval(), r.TTL(), nameresolution.TTLFactor*time.Second)
		}
		x := reg(app("crashed"), "i", "127.0.0.1:7")
		registered := time.Now()
		if err := r.Register(t.Context(), x); err != nil {
			t.Fatalf("Register: %v", err)
		}
		t.Cleanup(func() { _ = r.Deregister(t.Context(), x) })
		if got, _ := r.Lookup(t.Context(), "default", x.AppID); len(got) != 1 {
			t.Fatalf("Lookup right after Register = %v", got)
		}
		deadline := time.Now().Add(r.TTL() + 5*time.Second)
		for {
			got, err := r.Lookup(t.Context(), "default", x.AppID)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if len(got) == 0 {
				if since := time.Since(registered); since < r.TTL()-time.Second {
					t.Errorf("expired after %v, before the TTL %v", since, r.TTL())
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still registered %v after the last heartbeat", time.Since(registered))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("heartbeat keeps alive and deregisters on exit", func(t *testing.T) {
		r := newRegistry(t, map[string]string{"updateInterval": "1s"})
		x := reg(app("beating"), "i", "127.0.0.1:8")
		ctx, cancel := context.WithCancel(t.Context())
		done, err := nameresolution.Heartbeat(ctx, r, x, nil)
		if err != nil {
			cancel()
			t.Fatalf("Heartbeat: %v", err)
		}
		// Outlive the TTL: only the heartbeats keep the entry.
		deadline := time.Now().Add(r.TTL() + 1500*time.Millisecond)
		for time.Now().Before(deadline) {
			if got, err := r.Lookup(t.Context(), "default", x.AppID); err != nil || len(got) != 1 {
				cancel()
				t.Fatalf("Lookup while beating = %v, %v", got, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		cancel()
		<-done
		if got, err := r.Lookup(t.Context(), "default", x.AppID); err != nil || len(got) != 0 {
			t.Errorf("Lookup after a clean exit = %v, %v; want nothing", got, err)
		}
	})

	t.Run("picker goes round robin", func(t *testing.T) {
		r := newRegistry(t, nil)
		regs := []nameresolution.Registration{reg(app("rr"), "a", "127.0.0.1:11"), reg(app("rr"), "b", "127.0.0.1:12")}
		for _, x := range regs {
			if err := r.Register(t.Context(), x); err != nil {
				t.Fatalf("Register: %v", err)
			}
			t.Cleanup(func() { _ = r.Deregister(t.Context(), x) })
		}
		p := nameresolution.NewPicker(r, 0)
		var got []string
		for range 4 {
			x, err := p.Pick(t.Context(), "default", app("rr"))
			if err != nil {
				t.Fatalf("Pick: %v", err)
			}
			got = append(got, x.Address)
		}
		want := []string{"127.0.0.1:11", "127.0.0.1:12", "127.0.0.1:11", "127.0.0.1:12"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("picks (-want +got):\n%s", diff)
		}
		if _, err := p.Pick(t.Context(), "default", app("none")); !errors.Is(err, nameresolution.ErrNotFound) {
			t.Errorf("Pick of an unknown app: %v; want ErrNotFound", err)
		}
	})

	t.Run("picker reuses answers and forgets a sidecar found gone", func(t *testing.T) {
		r := &counting{Registry: newRegistry(t, nil)}
		a, b := reg(app("cached"), "a", "127.0.0.1:21"), reg(app("cached"), "b", "127.0.0.1:22")
		for _, x := range []nameresolution.Registration{a, b} {
			if err := r.Register(t.Context(), x); err != nil {
				t.Fatalf("Register: %v", err)
			}
			t.Cleanup(func() { _ = r.Deregister(t.Context(), x) })
		}
		p := nameresolution.NewPicker(r, time.Hour)
		pick := func() string {
			t.Helper()
			x, err := p.Pick(t.Context(), "default", app("cached"))
			if err != nil {
				t.Fatalf("Pick: %v", err)
			}
			return x.Address
		}
		if got := []string{pick(), pick(), pick()}; r.lookups.Load() != 1 || got[0] == got[1] || got[0] != got[2] {
			t.Fatalf("three picks %v made %d lookups; want one, round robin", got, r.lookups.Load())
		}
		// b exits cleanly; until a caller finds it gone, the answer stands.
		if err := r.Deregister(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		p.Forget("default", app("cached"), "127.0.0.1:99") // not in the answer: kept
		pick()
		if n := r.lookups.Load(); n != 1 {
			t.Errorf("forgetting an address the answer does not list made %d lookups; want 1", n)
		}
		p.Forget("default", app("cached"), b.Address)
		if got := []string{pick(), pick()}; r.lookups.Load() != 2 || got[0] != a.Address || got[1] != a.Address {
			t.Errorf("after forgetting %s: picks %v with %d lookups; want only %s, from one new lookup", b.Address, got, r.lookups.Load(), a.Address)
		}

		// An app without sidecars is not remembered: one that starts is
		// found at its first call.
		if _, err := p.Pick(t.Context(), "default", app("later")); !errors.Is(err, nameresolution.ErrNotFound) {
			t.Fatalf("Pick before any registration: %v", err)
		}
		later := reg(app("later"), "x", "127.0.0.1:23")
		if err := r.Register(t.Context(), later); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Deregister(t.Context(), later) })
		if x, err := p.Pick(t.Context(), "default", app("later")); err != nil || x.Address != later.Address {
			t.Errorf("Pick right after registration = %v, %v", x, err)
		}

		// An answer ages out.
		short := nameresolution.NewPicker(r, time.Millisecond)
		before := r.lookups.Load()
		if _, err := short.Pick(t.Context(), "default", app("cached")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := short.Pick(t.Context(), "default", app("cached")); err != nil {
			t.Fatal(err)
		}
		if n := r.lookups.Load() - before; n != 2 {
			t.Errorf("two picks %s apart with a 1ms cache made %d lookups; want 2", 5*time.Millisecond, n)
		}
	})
}

// counting counts a registry's lookups, to tell a cached answer from a
// fresh one.
type counting struct {
	nameresolution.Registry
	lookups atomic.Int32
}

func (c *counting) Lookup(ctx context.Context, namespace, appID string) ([]nameresolution.Registration, error) {
	c.lookups.Add(1)
	return c.Registry.Lookup(ctx, namespace, appID)
}

func uniqueID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "nrt" + hex.EncodeToString(b[:])
}
