package jobs_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/daprerr"
)

func ptr[T any](v T) *T { return &v }

// recorder is an app replica that records the jobs it is sent; it fails
// the first failFirst deliveries.
type recorder struct {
	mu        sync.Mutex
	got       []string
	failFirst int
	calls     int
	ch        chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

func (r *recorder) DeliverJob(_ context.Context, name string, data *anypb.Any) error {
	r.mu.Lock()
	r.calls++
	fail := r.calls <= r.failFirst
	if !fail {
		r.got = append(r.got, name)
	}
	r.mu.Unlock()
	r.ch <- name
	if fail {
		return errors.New("app failed")
	}
	return nil
}

func (r *recorder) tries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func open(t testing.TB, path string) *jobs.Scheduler {
	t.Helper()
	s, err := jobs.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// await waits, generously, for n deliveries to r.
func await(t *testing.T, r *recorder, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("%d of %d deliveries after 30s", i, n)
		}
	}
}

// awaitGone waits until the job is gone, as a job is once it fires no more.
func awaitGone(t *testing.T, app *jobs.Service, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := app.Get(t.Context(), name)
		var de *daprerr.Error
		if errors.As(err, &de) && de.Kind == daprerr.SchedulerGetJob {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still there after 30s (%v)", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScheduleGetDelete(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs.db"))
	app := s.App("orders", "")
	data, _ := anypb.New(structpb.NewStringValue("hello"))
	job := &runtimev1pb.Job{Name: "nightly", Schedule: ptr("@daily"), Repeats: ptr(uint32(3)), Ttl: ptr("72h"), Data: data}
	if err := app.Schedule(t.Context(), job, false); err != nil {
		t.Fatal(err)
	}
	got, err := app.Get(t.Context(), "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetSchedule() != "@daily" || got.GetRepeats() != 3 || got.GetTtl() != "72h" || got.GetName() != "nightly" {
		t.Fatalf("got %v", got)
	}
	c := got.GetFailurePolicy().GetConstant()
	if c.GetInterval().AsDuration() != time.Second || c.GetMaxRetries() != 3 {
		t.Fatalf("failure policy %v, want Dapr's default (1s, 3 retries)", got.GetFailurePolicy())
	}
	var v structpb.Value
	if err := got.GetData().UnmarshalTo(&v); err != nil || v.GetStringValue() != "hello" {
		t.Fatalf("data %v (%v)", got.GetData(), err)
	}

	// Another app does not see it.
	if _, err := s.App("billing", "").Get(t.Context(), "nightly"); err == nil {
		t.Fatal("another app read the job")
	}

	// Scheduling it again needs overwrite.
	err = app.Schedule(t.Context(), &runtimev1pb.Job{Name: "nightly", Schedule: ptr("@weekly")}, false)
	var de *daprerr.Error
	if !errors.As(err, &de) || de.Status() != 409 || de.Kind != daprerr.SchedulerScheduleJob {
		t.Fatalf("got %v, want 409 DAPR_SCHEDULER_SCHEDULE_JOB", err)
	}
	if err := app.Schedule(t.Context(), &runtimev1pb.Job{Name: "nightly", Schedule: ptr("@weekly")}, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := app.Get(t.Context(), "nightly"); got.GetSchedule() != "@weekly" {
		t.Fatalf("schedule %q after overwrite", got.GetSchedule())
	}

	list, err := app.List(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if err := app.Delete(t.Context(), "nightly"); err != nil {
		t.Fatal(err)
	}
	if err := app.Delete(t.Context(), "nightly"); err != nil {
		t.Fatalf("deleting a missing job: %v", err)
	}
	_, err = app.Get(t.Context(), "nightly")
	if !errors.As(err, &de) || de.Kind != daprerr.SchedulerGetJob || de.Status() != 500 {
		t.Fatalf("got %v, want daprd's 500 DAPR_SCHEDULER_GET_JOB", err)
	}
}

func TestScheduleErrors(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs.db"))
	app := s.App("orders", "")
	for _, c := range []struct {
		name string
		job  *runtimev1pb.Job
		kind daprerr.Kind
	}{
		{"no job", nil, jobs.ErrEmpty},
		{"no name", &runtimev1pb.Job{Schedule: ptr("@daily")}, jobs.ErrNameEmpty},
		{"no schedule", &runtimev1pb.Job{Name: "j"}, jobs.ErrScheduleEmpty},
		{"bad schedule", &runtimev1pb.Job{Name: "j", Schedule: ptr("every day")}, daprerr.SchedulerScheduleJob},
		{"bad name", &runtimev1pb.Job{Name: "a/b", Schedule: ptr("@daily")}, daprerr.SchedulerScheduleJob},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := app.Schedule(t.Context(), c.job, false)
			var de *daprerr.Error
			if !errors.As(err, &de) || de.Kind != c.kind {
				t.Fatalf("got %v, want %s", err, c.kind.Code)
			}
		})
	}
}

func TestDueJobFiresOnceOnOneReplica(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs.db"))
	app := s.App("orders", "")
	a, b := newRecorder(), newRecorder()
	defer app.Attach(a)()
	defer app.Attach(b)()
	for _, name := range []string{"j1", "j2", "j3", "j4"} {
		if err := app.Schedule(t.Context(), &runtimev1pb.Job{Name: name, DueTime: ptr("0s")}, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"j1", "j2", "j3", "j4"} {
		awaitGone(t, app, name)
	}
	if n := a.count() + b.count(); n != 4 {
		t.Fatalf("%d deliveries, want 4", n)
	}
	if a.count() == 0 || b.count() == 0 {
		t.Fatalf("deliveries %d and %d: want both replicas to take some", a.count(), b.count())
	}
}

func TestRepeatsAndFailurePolicy(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs.db"))
	app := s.App("orders", "")

	r := newRecorder()
	r.failFirst = 2
	detach := app.Attach(r)
	if err := app.Schedule(t.Context(), &runtimev1pb.Job{Name: "thrice", Schedule: ptr("@every 1s"), Repeats: ptr(uint32(3)),
		FailurePolicy: &commonv1pb.JobFailurePolicy{Policy: &commonv1pb.JobFailurePolicy_Constant{
			Constant: &commonv1pb.JobFailurePolicyConstant{Interval: durationpb.New(10 * time.Millisecond), MaxRetries: ptr(uint32(5))},
		}}}, false); err != nil {
		t.Fatal(err)
	}
	awaitGone(t, app, "thrice")
	detach()
	if r.count() != 3 || r.tries() != 5 {
		t.Fatalf("%d deliveries in %d calls, want 3 in 5 (two failures retried)", r.count(), r.tries())
	}

	// Drop: a failed occurrence is not retried, and a one-shot job is gone.
	d := newRecorder()
	d.failFirst = 1
	defer app.Attach(d)()
	if err := app.Schedule(t.Context(), &runtimev1pb.Job{Name: "once", DueTime: ptr("0s"),
		FailurePolicy: &commonv1pb.JobFailurePolicy{Policy: &commonv1pb.JobFailurePolicy_Drop{Drop: &commonv1pb.JobFailurePolicyDrop{}}}}, false); err != nil {
		t.Fatal(err)
	}
	awaitGone(t, app, "once")
	if d.tries() != 1 || d.count() != 0 {
		t.Fatalf("%d calls, %d delivered; want the one failed call only", d.tries(), d.count())
	}
}

func TestJobWaitsForItsAppAndSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := jobs.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Due at once, but no replica of the app is attached before the stop.
	if err := s.App("orders", "").Schedule(t.Context(), &runtimev1pb.Job{Name: "later", DueTime: ptr("0s")}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, path)
	app := s2.App("orders", "")
	if _, err := app.Get(t.Context(), "later"); err != nil {
		t.Fatalf("the job did not survive the restart: %v", err)
	}
	r := newRecorder()
	defer app.Attach(r)()
	await(t, r, 1)
	awaitGone(t, app, "later")
	if r.count() != 1 {
		t.Fatalf("%d deliveries, want 1", r.count())
	}
}

// Two schedulers on one file, as two standalone sidecars of an app with
// one jobs file: each occurrence goes to one of them.
func TestSharedFileDeliversOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s1, s2 := open(t, path), open(t, path)
	a, b := newRecorder(), newRecorder()
	defer s1.App("orders", "").Attach(a)()
	defer s2.App("orders", "").Attach(b)()
	const n = 20
	for i := range n {
		name := "j" + string(rune('a'+i))
		if err := s1.App("orders", "").Schedule(t.Context(), &runtimev1pb.Job{Name: name, DueTime: ptr("0s")}, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		awaitGone(t, s1.App("orders", ""), "j"+string(rune('a'+i)))
	}
	if got := a.count() + b.count(); got != n {
		t.Fatalf("%d deliveries of %d jobs", got, n)
	}
}

// Due jobs of an app with no replica up do not hold up another app's.
func TestWaitingAppDoesNotHoldOthersUp(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "jobs.db"))
	idle := s.App("idle", "")
	for i := range 150 {
		if err := idle.Schedule(t.Context(), &runtimev1pb.Job{Name: "j" + strconv.Itoa(i), DueTime: ptr("0s")}, false); err != nil {
			t.Fatal(err)
		}
	}
	app := s.App("orders", "")
	r := newRecorder()
	defer app.Attach(r)()
	if err := app.Schedule(t.Context(), &runtimev1pb.Job{Name: "mine", DueTime: ptr("0s")}, false); err != nil {
		t.Fatal(err)
	}
	await(t, r, 1)
	if list, err := idle.List(t.Context()); err != nil || len(list) != 150 {
		t.Fatalf("the idle app's jobs: %d, %v; want all 150 waiting", len(list), err)
	}
}
