package cron_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/cron"
)

func initCron(t *testing.T, schedule string) (*cron.Binding, error) {
	t.Helper()
	b := cron.New()
	err := b.Init(t.Context(), components.Metadata{Name: "tick", Type: cron.Type, Properties: map[string]string{"schedule": schedule}})
	t.Cleanup(func() { _ = b.Close() })
	return b, err
}

// TestSchedules: Dapr's syntax parses (seconds, five fields, descriptors);
// anything else is refused by Init and by Check, which names the item.
func TestSchedules(t *testing.T) {
	for _, s := range []string{"*/15 * * * * *", "0 30 * * * *", "*/5 * * * *", "@every 15s", "@every 1h30m", "@daily", "@hourly", "@yearly", "0 0 9 * * MON-FRI"} {
		if _, err := initCron(t, s); err != nil {
			t.Errorf("Init(%q) = %v", s, err)
		}
		if err := cron.Check(map[string]string{"schedule": s}); err != nil {
			t.Errorf("Check(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"every minute", "* * *", "@every", "@every soon", "61 * * * * *", "* * * * * * *"} {
		if _, err := initCron(t, s); err == nil {
			t.Errorf("Init(%q) succeeded", s)
		}
		err := cron.Check(map[string]string{"schedule": s})
		var me *components.MetadataError
		if !errors.As(err, &me) || me.Item != "schedule" {
			t.Errorf("Check(%q) = %v; want a MetadataError on schedule", s, err)
		}
	}
	if _, err := initCron(t, ""); err == nil {
		t.Error("Init without a schedule succeeded")
	}
}

// TestFires: every reader gets its own firings, with Dapr's metadata,
// until its context ends; Close ends the others.
func TestFires(t *testing.T) {
	b, err := initCron(t, "@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	var a, c atomic.Int32
	got := make(chan *bindings.Event, 10)
	ctx, cancel := context.WithCancel(t.Context())
	if err := b.Read(ctx, func(_ context.Context, ev *bindings.Event) ([]byte, error) {
		a.Add(1)
		got <- ev
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Read(t.Context(), func(context.Context, *bindings.Event) ([]byte, error) { c.Add(1); return nil, nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Metadata["timeZone"] == "" || ev.Metadata["readTimeUTC"] == "" || len(ev.Data) != 0 {
			t.Errorf("event = %+v; want timeZone and readTimeUTC, no data", ev)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no firing within 3s of an @every 1s schedule")
	}
	cancel()
	time.Sleep(100 * time.Millisecond)
	n := a.Load()
	time.Sleep(2200 * time.Millisecond)
	if a.Load() != n {
		t.Errorf("the reader whose context ended got %d more firings", a.Load()-n)
	}
	if c.Load() < 2 {
		t.Errorf("the other reader got %d firings in over 2s; want its own schedule", c.Load())
	}
	_ = b.Close()
	n = c.Load()
	time.Sleep(1200 * time.Millisecond)
	if c.Load() != n {
		t.Error("a firing after Close")
	}
	if err := b.Read(t.Context(), func(context.Context, *bindings.Event) ([]byte, error) { return nil, nil }); err == nil {
		t.Error("Read after Close succeeded")
	}
}
