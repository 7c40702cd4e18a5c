// Package conformance is the one test suite every configuration store
// passes against its real server: reads, subscriptions to some keys and to
// every key, unsubscribing, and the end of a subscription with its context.
package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/componenttest"
	"github.com/cove-env/cove/internal/components/configuration"
)

// Backend changes the store's data behind its back, as an operator does.
type Backend interface {
	// Set writes key with value and version.
	Set(t *testing.T, key, value, version string)
	// Delete removes key.
	Delete(t *testing.T, key string)
}

// Open builds the registered type typ from the registry, as the hosts do,
// initialises it with props and closes it when t ends.
func Open(t *testing.T, typ string, props map[string]string) (configuration.Store, error) {
	t.Helper()
	return componenttest.Open[configuration.Store](t, typ, props)
}

// Unique is a random key prefix for one run (componenttest.Unique).
func Unique() string { return componenttest.Unique() }

// updates collects a subscription's updates.
type updates struct {
	mu   sync.Mutex
	got  []*configuration.Update
	more chan struct{}
}

func newUpdates() *updates { return &updates{more: make(chan struct{}, 1000)} }

func (u *updates) handle(_ context.Context, up *configuration.Update) error {
	u.mu.Lock()
	u.got = append(u.got, up)
	u.mu.Unlock()
	u.more <- struct{}{}
	return nil
}

// wait returns the first update holding key, failing after a while.
func (u *updates) wait(t *testing.T, key string) *configuration.Item {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if it := u.find(key); it != nil {
			return it
		}
		select {
		case <-u.more:
		case <-deadline:
			t.Fatalf("no update for %s within 5s", key)
		}
	}
}

// find returns the first collected update's item for key and forgets the
// updates before it and it.
func (u *updates) find(key string) *configuration.Item {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, up := range u.got {
		if it, ok := up.Items[key]; ok {
			u.got = u.got[i+1:]
			return it
		}
	}
	return nil
}

// none checks that no update for key arrives for a while.
func (u *updates) none(t *testing.T, key string) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	if it := u.find(key); it != nil {
		t.Fatalf("update for %s = %+v; want none", key, it)
	}
}

// Run runs every case against the store open returns (a new one per
// case) and the backend behind it.
func Run(t *testing.T, open func(t *testing.T) configuration.Store, backend Backend) {
	p := Unique()
	t.Run("Get", func(t *testing.T) {
		st := open(t)
		backend.Set(t, p+"a", "va", "1")
		backend.Set(t, p+"b", "vb", "")
		items, err := st.Get(t.Context(), []string{p + "a", p + "b", p + "missing"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 2 {
			t.Fatalf("Get = %v; want %sa and %sb only (a missing key is left out)", items, p, p)
		}
		if it := items[p+"a"]; it.Value != "va" || it.Version != "1" {
			t.Errorf("%sa = %+v; want va, version 1", p, it)
		}
		if it := items[p+"b"]; it.Value != "vb" {
			t.Errorf("%sb = %+v; want vb", p, it)
		}
		all, err := st.Get(t.Context(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if all[p+"a"] == nil || all[p+"b"] == nil {
			t.Errorf("Get with no keys has no %sa or %sb", p, p)
		}
	})
	t.Run("SubscribeKeys", func(t *testing.T) {
		st := open(t)
		u := newUpdates()
		id, err := st.Subscribe(t.Context(), []string{p + "s1", p + "s2"}, nil, u.handle)
		if err != nil || id == "" {
			t.Fatalf("Subscribe = %q, %v", id, err)
		}
		backend.Set(t, p+"s1", "one", "1")
		if it := u.wait(t, p+"s1"); it.Value != "one" || it.Version != "1" {
			t.Errorf("update = %+v; want one, version 1", it)
		}
		backend.Set(t, p+"s2", "two", "7")
		if it := u.wait(t, p+"s2"); it.Value != "two" {
			t.Errorf("update = %+v; want two", it)
		}
		backend.Set(t, p+"other", "x", "1")
		backend.Set(t, p+"s1", "uno", "2")
		if it := u.wait(t, p+"s1"); it.Value != "uno" || it.Version != "2" {
			t.Errorf("second update = %+v; want uno, version 2", it)
		}
		u.none(t, p+"other")
		backend.Delete(t, p+"s1")
		u.wait(t, p+"s1")
	})
	t.Run("SubscribeAll", func(t *testing.T) {
		st := open(t)
		u := newUpdates()
		if _, err := st.Subscribe(t.Context(), nil, nil, u.handle); err != nil {
			t.Fatal(err)
		}
		backend.Set(t, p+"any", "v", "1")
		if it := u.wait(t, p+"any"); it.Value != "v" {
			t.Errorf("update = %+v", it)
		}
	})
	t.Run("Unsubscribe", func(t *testing.T) {
		st := open(t)
		u := newUpdates()
		id, err := st.Subscribe(t.Context(), []string{p + "u"}, nil, u.handle)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Unsubscribe(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		backend.Set(t, p+"u", "after", "1")
		u.none(t, p+"u")
		if err := st.Unsubscribe(t.Context(), id); err == nil {
			t.Error("second Unsubscribe succeeded; want an error for an unknown id")
		}
	})
	t.Run("ContextEndsSubscription", func(t *testing.T) {
		st := open(t)
		u := newUpdates()
		ctx, cancel := context.WithCancel(t.Context())
		id, err := st.Subscribe(ctx, []string{p + "c"}, nil, u.handle)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
		backend.Set(t, p+"c", "after", "1")
		u.none(t, p+"c")
		if err := st.Unsubscribe(t.Context(), id); err == nil {
			t.Error("Unsubscribe after the context ended succeeded; want an error for an ended subscription")
		}
	})
}
