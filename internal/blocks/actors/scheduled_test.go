package actors

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/components/componenttest"
	cstate "github.com/cove-env/cove/internal/components/state"
)

func openJobs(t *testing.T, path string) *jobs.Scheduler {
	t.Helper()
	s, err := jobs.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitCalls(t *testing.T, a *fakeApp, n int32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for a.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d calls, want %d", a.name, a.calls.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone waits for a reminder to be deleted (its last firing, or a
// cancel).
func waitGone(t *testing.T, rt *Runtime, h *Host, typ, id, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := rt.GetReminder(t.Context(), h, typ, id, name)
		if code(err) == "ERR_ACTOR_REMINDER_NOT_FOUND 404" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reminder %s is still there: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reminders kept as jobs of the scheduler fire where the actor lives, go
// on after a restart of the scheduler's database from where they were,
// and are gone after their last repetition.
func TestScheduledRemindersSurviveARestart(t *testing.T) {
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jobs.db")
	s := openJobs(t, path)
	rt := NewWithOptions("app", NewPlacement(), Options{Store: store, Scheduler: s})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	if err := rt.CreateReminder(t.Context(), nil, ReminderRequest{Type: "T", ID: "x", Name: "r"}); code(err) != "ERR_ACTOR_REMINDER_NON_HOSTED 403" {
		t.Fatalf("from a sidecar not hosting the type: %v", err)
	}
	if err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", Period: "P1M"}); code(err) != "ERR_MALFORMED_REQUEST 400" {
		t.Fatalf("a period in months: %v", err)
	}
	err = rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", DueTime: "0s", Period: "R3/PT1S", Data: []byte(`"d"`)})
	if err != nil {
		t.Fatal(err)
	}
	// The reminder is a job apart from the app's own: an app job of the
	// same name is another job.
	if _, err := s.App("app", "").Get(t.Context(), jobs.ReminderName("x", "r")); err == nil {
		t.Fatal("the reminder is among the app's jobs")
	}
	got, err := rt.GetReminder(t.Context(), h, "T", "x", "r")
	if err != nil || got.Period != "R3/PT1S" || string(got.Data) != `"d"` || got.ActorID != "x" {
		t.Fatalf("get: %+v %v", got, err)
	}
	waitCalls(t, a, 1, 5*time.Second)
	h.Close(t.Context())
	rt.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openJobs(t, path)
	defer s2.Close()
	rt2 := NewWithOptions("app", NewPlacement(), Options{Store: store, Scheduler: s2})
	defer rt2.Close()
	b := newFakeApp(t, "b")
	h2 := b.host(rt2, `{"entities":["T"]}`)
	defer h2.Close(context.Background())
	waitCalls(t, b, 2, 10*time.Second)
	waitGone(t, rt2, h2, "T", "x", "r")
	if n := a.calls.Load() + b.calls.Load(); n != 3 {
		t.Fatalf("fired %d times in all, want 3", n)
	}
	if err := rt2.DeleteReminder(t.Context(), h2, "T", "x", "r"); err != nil {
		t.Fatal(err)
	}
}

// An app answering X-DaprReminderCancel ends the reminder; two apps
// hosting the type share it and it fires once per occurrence.
func TestScheduledReminderCancelAndSharedType(t *testing.T) {
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := openJobs(t, filepath.Join(t.TempDir(), "jobs.db"))
	defer s.Close()
	p := NewPlacement()
	rt1 := NewWithOptions("one", p, Options{Store: store, Scheduler: s})
	defer rt1.Close()
	rt2 := NewWithOptions("two", p, Options{Store: store, Scheduler: s})
	defer rt2.Close()
	a, b := newFakeApp(t, "a"), newFakeApp(t, "b")
	h1 := a.host(rt1, `{"entities":["T"]}`)
	defer h1.Close(context.Background())
	h2 := b.host(rt2, `{"entities":["T"]}`)
	defer h2.Close(context.Background())
	if err := rt1.CreateReminder(t.Context(), h1, ReminderRequest{Type: "T", ID: "x", Name: "r", Period: "R2/PT1S"}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, rt2, h2, "T", "x", "r")
	if n := a.calls.Load() + b.calls.Load(); n != 2 {
		t.Fatalf("the reminder fired %d times, want 2", n)
	}

	for _, f := range []*fakeApp{a, b} {
		f.mu.Lock()
		f.header = http.Header{"X-Daprremindercancel": {"true"}}
		f.mu.Unlock()
	}
	if err := rt1.CreateReminder(t.Context(), h1, ReminderRequest{Type: "T", ID: "y", Name: "c", Period: "PT1S"}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, rt1, h1, "T", "y", "c")
	if n := a.calls.Load() + b.calls.Load(); n != 3 {
		t.Fatalf("the reminder fired %d times after it was cancelled, want 1", n-2)
	}
}

// Reminders an earlier cove kept in the actor state store move to the
// scheduler when their type's first host starts, going on where they
// were, and leave the store.
func TestRemindersMoveFromTheStateStore(t *testing.T) {
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	old := New("app", NewPlacement(), store, nil)
	a := newFakeApp(t, "a")
	h := a.host(old, `{"entities":["T"]}`)
	if err := old.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "later", DueTime: "1h", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	if err := old.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "soon", DueTime: "1s", Period: "R2/PT1S"}); err != nil {
		t.Fatal(err)
	}
	h.Close(t.Context())
	old.Close()

	s := openJobs(t, filepath.Join(t.TempDir(), "jobs.db"))
	defer s.Close()
	rt := NewWithOptions("app", NewPlacement(), Options{Store: store, Scheduler: s})
	defer rt.Close()
	b := newFakeApp(t, "b")
	h2 := b.host(rt, `{"entities":["T"]}`)
	defer h2.Close(context.Background())
	res, err := store.Get(t.Context(), &cstate.GetRequest{Key: storeKey("T")})
	if err != nil || res != nil && len(res.Data) > 0 {
		t.Fatalf("the state store still keeps reminders: %v %v", res, err)
	}
	got, err := rt.GetReminder(t.Context(), h2, "T", "x", "later")
	if err != nil || got.DueTime != "1h" || string(got.Data) != "1" {
		t.Fatalf("moved reminder: %+v %v", got, err)
	}
	if j, err := s.ActorReminders("T", "").Get(t.Context(), jobs.ReminderName("x", "later")); err != nil ||
		time.Until(mustTime(t, j.GetDueTime())) < 50*time.Minute {
		t.Fatalf("the moved reminder's job: %v %v", j, err)
	}
	waitCalls(t, b, 2, 10*time.Second)
	if a.calls.Load() != 0 {
		t.Fatalf("the old runtime fired %d times", a.calls.Load())
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fireChannel records the firings a channel other than HTTP is given.
type fireChannel struct{ fires chan *Fire }

func (c *fireChannel) Call(_ context.Context, req *Request) (*Response, error) {
	c.fires <- req.Fire
	return &Response{Status: http.StatusOK, Header: http.Header{}}, nil
}

func (c *fireChannel) Deactivate(context.Context, string, string) (*Response, error) {
	return &Response{Status: http.StatusOK}, nil
}

// A reminder's firing forwarded from another sidecar (a method call on
// the wire) reaches a gRPC app's channel as a reminder firing again.
func TestForwardedReminderIsAFiring(t *testing.T) {
	rt := New("app", NewPlacement(), nil, nil)
	ch := &fireChannel{fires: make(chan *Fire, 1)}
	hc, err := ParseHostConfig([]byte(`{"entities":["T"]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := rt.Host(HostOptions{Name: "a", Config: hc, Channel: ch})
	defer h.Close(context.Background())
	_, err = rt.InvokeLocal(t.Context(), &Request{Type: "T", ID: "x", Method: "remind/r",
		Header: http.Header{reminderMark: {"true"}}, Body: []byte(`{"data":{"a":1},"dueTime":"1s","period":"R2/PT1S"}`)})
	if err != nil {
		t.Fatal(err)
	}
	f := <-ch.fires
	if f == nil || f.Timer || f.Name != "r" || f.DueTime != "1s" || f.Period != "R2/PT1S" || string(f.Data) != `{"a":1}` {
		t.Fatalf("firing %+v", f)
	}
	// A method call of that name without the mark stays a call.
	if _, err := rt.InvokeLocal(t.Context(), &Request{Type: "T", ID: "x", Method: "remind/r"}); err != nil {
		t.Fatal(err)
	}
	if f := <-ch.fires; f != nil {
		t.Fatalf("a method call became the firing %+v", f)
	}
}
