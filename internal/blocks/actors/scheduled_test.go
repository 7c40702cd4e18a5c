package actors

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/components/componenttest"
	cstate "github.com/cove-env/cove/internal/components/state"
)

func openJobs(t testing.TB, path string) *jobs.Scheduler {
	t.Helper()
	s, err := jobs.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newRuntime is app appID's runtime over p; without o.Scheduler, its
// reminders are jobs of a scheduler on a file of its own.
func newRuntime(t testing.TB, appID string, p *Placement, o Options) *Runtime {
	t.Helper()
	if o.Scheduler == nil {
		s := openJobs(t, filepath.Join(t.TempDir(), "jobs.db"))
		t.Cleanup(func() { s.Close() })
		o.Scheduler = s
	}
	rt, err := New(appID, p, o)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// memoryStore is an actor state store of the test's own.
func memoryStore(t *testing.T) cstate.Store {
	t.Helper()
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// A runtime without a scheduler would have nowhere to keep reminders.
func TestNewNeedsAScheduler(t *testing.T) {
	rt, err := New("app", NewPlacement(), Options{})
	if err == nil || rt != nil || !strings.Contains(err.Error(), "scheduler is required") {
		t.Fatalf("New without a scheduler: %v %v", rt, err)
	}
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
	store := memoryStore(t)
	path := filepath.Join(t.TempDir(), "jobs.db")
	s := openJobs(t, path)
	rt := newRuntime(t, "app", NewPlacement(), Options{Store: store, Scheduler: s})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	if err := rt.CreateReminder(t.Context(), nil, ReminderRequest{Type: "T", ID: "x", Name: "r"}); code(err) != "ERR_ACTOR_REMINDER_NON_HOSTED 403" {
		t.Fatalf("from a sidecar not hosting the type: %v", err)
	}
	if err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", Period: "P1M"}); code(err) != "ERR_MALFORMED_REQUEST 400" {
		t.Fatalf("a period in months: %v", err)
	}
	if err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", Period: "R0/PT1S"}); code(err) != "ERR_MALFORMED_REQUEST 400" {
		t.Fatalf("zero repetitions: %v", err)
	}
	err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", DueTime: "0s", Period: "R3/PT1S", Data: []byte(`"d"`)})
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
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openJobs(t, path)
	defer s2.Close()
	rt2 := newRuntime(t, "app", NewPlacement(), Options{Store: store, Scheduler: s2})
	b := newFakeApp(t, "b")
	h2 := b.host(rt2, `{"entities":["T"]}`)
	defer h2.Close(context.Background())
	waitCalls(t, b, 2, 10*time.Second)
	waitGone(t, rt2, h2, "T", "x", "r")
	if n := a.calls.Load() + b.calls.Load(); n != 3 {
		t.Fatalf("fired %d times in all, want 3", n)
	}
	// Delete of one that does not exist is no error.
	if err := rt2.DeleteReminder(t.Context(), h2, "T", "x", "r"); err != nil {
		t.Fatal(err)
	}
}

// A deleted reminder is gone and fires no more.
func TestDeletedReminderStops(t *testing.T) {
	rt := newRuntime(t, "app", NewPlacement(), Options{Store: memoryStore(t)})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	defer h.Close(context.Background())
	if err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", Period: "PT1S"}); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, a, 1, 5*time.Second)
	if err := rt.DeleteReminder(t.Context(), h, "T", "x", "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.GetReminder(t.Context(), h, "T", "x", "r"); code(err) != "ERR_ACTOR_REMINDER_NOT_FOUND 404" {
		t.Fatalf("after delete: %v", err)
	}
	n := a.calls.Load()
	time.Sleep(1500 * time.Millisecond)
	if m := a.calls.Load(); m != n {
		t.Fatalf("the deleted reminder fired %d more times", m-n)
	}
}

// A reminder with a ttl fires every period until its ttl, counted from
// its due time, ends, and is then gone.
func TestReminderTTL(t *testing.T) {
	rt := newRuntime(t, "app", NewPlacement(), Options{Store: memoryStore(t)})
	a := newFakeApp(t, "a")
	h := a.host(rt, `{"entities":["T"]}`)
	defer h.Close(context.Background())
	if err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", Period: "PT1S", TTL: "soon"}); code(err) != "ERR_MALFORMED_REQUEST 400" {
		t.Fatalf("a ttl that is no time: %v", err)
	}
	err := rt.CreateReminder(t.Context(), h, ReminderRequest{Type: "T", ID: "x", Name: "r", DueTime: "500ms", Period: "PT1S", TTL: "2500ms"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rt.GetReminder(t.Context(), h, "T", "x", "r"); err != nil || got.TTL != "2500ms" {
		t.Fatalf("get: %+v %v", got, err)
	}
	waitGone(t, rt, h, "T", "x", "r")
	// Due at 0.5s, 1.5s and 2.5s after creation; one late past the next
	// is skipped, so a busy machine may see two.
	if n := a.calls.Load(); n < 2 || n > 3 {
		t.Fatalf("fired %d times within its ttl, want 3", n)
	}
}

// Two apps hosting one actor type share its reminders: each firing
// happens once, on the replica hosting the actor, whichever app's
// replicas joined and when.
func TestRemindersFireOnceWhereTheActorLives(t *testing.T) {
	s := openJobs(t, filepath.Join(t.TempDir(), "jobs.db"))
	defer s.Close()
	p, store := NewPlacement(), memoryStore(t)
	rt1 := newRuntime(t, "one", p, Options{Store: store, Scheduler: s})
	a := newFakeApp(t, "a")
	h1 := a.host(rt1, `{"entities":["T"]}`)
	defer h1.Close(context.Background())
	err := rt1.CreateReminder(t.Context(), h1, ReminderRequest{Type: "T", ID: "x", Name: "r", DueTime: "1s", Period: "R2/PT1S"})
	if err != nil {
		t.Fatal(err)
	}
	// The second app's replica joins once the reminder is created.
	rt2 := newRuntime(t, "two", p, Options{Store: store, Scheduler: s})
	b := newFakeApp(t, "b")
	h2 := b.host(rt2, `{"entities":["T"]}`)
	defer h2.Close(context.Background())
	owner, err := p.Lookup("T", "x")
	if err != nil {
		t.Fatal(err)
	}
	here, there := a, b
	if owner == h2 {
		here, there = b, a
	}

	waitGone(t, rt2, h2, "T", "x", "r")
	// A second delivery of an occurrence would come within its period.
	time.Sleep(1500 * time.Millisecond)
	if n, m := here.calls.Load(), there.calls.Load(); n != 2 || m != 0 {
		t.Fatalf("the reminder fired %d times on the actor's replica (%s) and %d on the other, want 2 and 0", n, here.name, m)
	}
}

// An app answering X-DaprReminderCancel ends the reminder, whichever of
// the apps sharing the type it fired on.
func TestScheduledReminderCancel(t *testing.T) {
	s := openJobs(t, filepath.Join(t.TempDir(), "jobs.db"))
	defer s.Close()
	p, store := NewPlacement(), memoryStore(t)
	rt1 := newRuntime(t, "one", p, Options{Store: store, Scheduler: s})
	rt2 := newRuntime(t, "two", p, Options{Store: store, Scheduler: s})
	a, b := newFakeApp(t, "a"), newFakeApp(t, "b")
	h1 := a.host(rt1, `{"entities":["T"]}`)
	defer h1.Close(context.Background())
	h2 := b.host(rt2, `{"entities":["T"]}`)
	defer h2.Close(context.Background())
	for _, f := range []*fakeApp{a, b} {
		f.mu.Lock()
		f.header = http.Header{"X-Daprremindercancel": {"true"}}
		f.mu.Unlock()
	}
	if err := rt1.CreateReminder(t.Context(), h1, ReminderRequest{Type: "T", ID: "y", Name: "c", Period: "PT1S"}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, rt2, h2, "T", "y", "c")
	time.Sleep(1500 * time.Millisecond)
	if n := a.calls.Load() + b.calls.Load(); n != 1 {
		t.Fatalf("the reminder fired %d times, want once: its answer cancelled it", n)
	}
}

// Reminders an earlier cove kept in the actor state store (a JSON list
// under actors||<type>) move to the scheduler when their type's first
// host starts, going on where they were, and leave the store.
func TestRemindersMoveFromTheStateStore(t *testing.T) {
	store := memoryStore(t)
	now := time.Now()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	// "soon" fired once of its three, a second ago; "later" is due in an
	// hour.
	stored := `[{"actorID":"x","actorType":"T","name":"later","data":1,"dueTime":"1h","registeredTime":"` + at(0) + `","nextTime":"` + at(time.Hour) + `"},` +
		`{"actorID":"x","actorType":"T","name":"soon","period":"R3/PT1S","registeredTime":"` + at(-time.Second) + `","nextTime":"` + at(0) + `","fired":1}]`
	if err := store.Set(t.Context(), &cstate.SetRequest{Key: "actors||T", Value: []byte(stored)}); err != nil {
		t.Fatal(err)
	}

	s := openJobs(t, filepath.Join(t.TempDir(), "jobs.db"))
	defer s.Close()
	rt := newRuntime(t, "app", NewPlacement(), Options{Store: store, Scheduler: s})
	b := newFakeApp(t, "b")
	h := b.host(rt, `{"entities":["T"]}`)
	defer h.Close(context.Background())
	res, err := store.Get(t.Context(), &cstate.GetRequest{Key: "actors||T"})
	if err != nil || res != nil && len(res.Data) > 0 {
		t.Fatalf("the state store still keeps reminders: %v %v", res, err)
	}
	got, err := rt.GetReminder(t.Context(), h, "T", "x", "later")
	if err != nil || got.DueTime != "1h" || string(got.Data) != "1" {
		t.Fatalf("moved reminder: %+v %v", got, err)
	}
	if j, err := s.ActorReminders("T", "").Get(t.Context(), jobs.ReminderName("x", "later")); err != nil ||
		time.Until(mustTime(t, j.GetDueTime())) < 50*time.Minute {
		t.Fatalf("the moved reminder's job: %v %v", j, err)
	}
	// The two repetitions left fire, and no more.
	waitGone(t, rt, h, "T", "x", "soon")
	if n := b.calls.Load(); n != 2 {
		t.Fatalf("the moved reminder fired %d times, want the 2 left", n)
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
	rt := newRuntime(t, "app", NewPlacement(), Options{})
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
