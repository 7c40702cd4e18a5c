package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cove-env/cove/internal/daprerr"
)

// Daprd's errors of the jobs API.
var (
	ErrEmpty         = daprerr.Kind{Code: "DAPR_SCHEDULER_EMPTY", HTTP: http.StatusBadRequest, GRPC: codes.InvalidArgument}
	ErrNameEmpty     = daprerr.Kind{Code: "DAPR_SCHEDULER_JOB_NAME_EMPTY", HTTP: http.StatusBadRequest, GRPC: codes.InvalidArgument}
	ErrScheduleEmpty = daprerr.Kind{Code: "DAPR_SCHEDULER_SCHEDULE_EMPTY", HTTP: http.StatusBadRequest, GRPC: codes.InvalidArgument}
	// ErrNameInURL answers an HTTP request naming the job in its body too.
	ErrNameInURL = daprerr.Kind{Code: "DAPR_SCHEDULER_JOB_NAME", HTTP: http.StatusBadRequest, GRPC: codes.InvalidArgument}
)

// maxName bounds a job's name, as Dapr's scheduler bounds its keys.
const maxName = 512

// Service is one app's jobs: daprd's schedule, get, delete and list over
// the environment's scheduler, with daprd's errors. It is safe for
// concurrent use.
type Service struct {
	s   *Scheduler
	app appKey
	// anyName is set for actor reminders, whose names (actor id and
	// reminder name) never travel in a job callback URL.
	anyName bool
}

// reminderPrefix starts the app id column of actor reminders: app ids
// cannot hold "|", so a reminder never shares a key with an app's job.
const reminderPrefix = "actorreminder||"

// ActorReminders returns the reminders of actor type typ in namespace
// ("" is "default"): jobs keyed by actor type, id and reminder name
// (ReminderName), apart from every app's jobs, delivered to the targets
// attached for the type.
func (s *Scheduler) ActorReminders(typ, namespace string) *Service {
	a := s.App(reminderPrefix+typ, namespace)
	a.anyName = true
	return a
}

// ReminderName is the job name of an actor's reminder in ActorReminders.
func ReminderName(actorID, name string) string { return actorID + "||" + name }

// App returns the jobs of appID in namespace ("" is "default", daprd's).
func (s *Scheduler) App(appID, namespace string) *Service {
	if namespace == "" {
		namespace = "default"
	}
	return &Service{s: s, app: appKey{namespace: namespace, appID: appID}}
}

// Attach makes t, a replica of the app, a target of the app's jobs; each
// occurrence goes to one of the attached replicas. Detach removes it and
// waits for its deliveries in flight.
func (a *Service) Attach(t Target) (detach func()) { return a.s.attach(a.app, t) }

func (a *Service) key(name string) key { return key{a.app.namespace, a.app.appID, name} }

// checkName refuses names that cannot travel in a callback URL or a key.
func checkName(name string) error {
	if len(name) > maxName {
		return fmt.Errorf("job name is invalid: longer than %d bytes", maxName)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return r == '/' || r == '\\' || r == '#' || r == '?' || unicode.IsControl(r)
	}); i >= 0 {
		return fmt.Errorf("job name %q is invalid: it must not contain %q (nor /, \\, #, ? or control characters)", name, name[i:i+1])
	}
	return nil
}

// Schedule stores a job of the app; one of its name is replaced only with
// overwrite, as in daprd.
func (a *Service) Schedule(ctx context.Context, job *runtimev1pb.Job, overwrite bool) error {
	if job == nil {
		return daprerr.New(ErrEmpty, "Job is empty")
	}
	if job.GetName() == "" {
		return daprerr.New(ErrNameEmpty, "Name is empty")
	}
	if job.Schedule == nil && job.DueTime == nil {
		return daprerr.New(ErrScheduleEmpty, "Schedule is empty")
	}
	fail := func(err error) error {
		return daprerr.New(daprerr.SchedulerScheduleJob, "failed to schedule job due to: %v", err)
	}
	if err := a.s.check(); err != nil {
		return fail(err)
	}
	if !a.anyName {
		if err := checkName(job.GetName()); err != nil {
			return fail(err)
		}
	}
	p, err := newPlan(spec{Schedule: job.Schedule, DueTime: job.DueTime, TTL: job.Ttl, Repeats: job.Repeats}, a.s.now())
	if err != nil {
		return fail(fmt.Errorf("job failed validation: %w", err))
	}
	first, ok := p.next(0, time.Time{})
	if !ok {
		return fail(errors.New("job failed validation: it would never fire (its ttl ends before its first occurrence)"))
	}
	stored := proto.Clone(job).(*runtimev1pb.Job)
	if stored.FailurePolicy == nil {
		stored.FailurePolicy = defaultFailurePolicy()
	}
	r := &row{key: a.key(job.GetName()), job: stored, gen: newGen(), plan: p, tick: first, next: first}
	if err := a.s.st.put(ctx, r, overwrite); err != nil {
		if errors.Is(err, errExists) {
			return daprerr.New(daprerr.SchedulerScheduleJob, "failed to schedule job due to: job already exists: '%s'", job.GetName()).
				WithStatus(http.StatusConflict, codes.AlreadyExists)
		}
		return fail(err)
	}
	a.s.poke()
	return nil
}

// Get returns a job as it was scheduled (with Dapr's default failure
// policy when it named none).
func (a *Service) Get(ctx context.Context, name string) (*runtimev1pb.Job, error) {
	if name == "" {
		return nil, daprerr.New(ErrNameEmpty, "Name is empty")
	}
	r, err := a.s.st.get(ctx, a.key(name))
	if err != nil {
		return nil, daprerr.New(daprerr.SchedulerGetJob, "failed to get job due to: %v", err)
	}
	if r == nil {
		return nil, daprerr.New(daprerr.SchedulerGetJob, "failed to get job due to: job not found: %s", name)
	}
	return r.job, nil
}

// Find returns a job as it was scheduled, nil when there is none.
func (a *Service) Find(ctx context.Context, name string) (*runtimev1pb.Job, error) {
	r, err := a.s.st.get(ctx, a.key(name))
	if err != nil || r == nil {
		return nil, err
	}
	return r.job, nil
}

// Delete removes a job; one that does not exist is no error, as in daprd.
func (a *Service) Delete(ctx context.Context, name string) error {
	if name == "" {
		return daprerr.New(ErrNameEmpty, "Name is empty")
	}
	if err := a.s.st.delete(ctx, a.key(name)); err != nil {
		return daprerr.New(daprerr.SchedulerDeleteJob, "failed to delete job due to: %v", err)
	}
	return nil
}

// DeleteByPrefix removes the app's jobs whose names start with prefix
// ("" is all of them).
func (a *Service) DeleteByPrefix(ctx context.Context, prefix string) error {
	if err := a.s.st.deletePrefix(ctx, a.app.namespace, a.app.appID, prefix); err != nil {
		return daprerr.New(daprerr.SchedulerDeleteJob, "failed to delete job due to: %v", err)
	}
	return nil
}

// List returns the app's jobs by name.
func (a *Service) List(ctx context.Context) ([]*runtimev1pb.Job, error) {
	rows, err := a.s.st.list(ctx, a.app.namespace, a.app.appID)
	if err != nil {
		return nil, daprerr.New(daprerr.SchedulerListJobs, "failed to list jobs due to: %v", err)
	}
	out := make([]*runtimev1pb.Job, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.job)
	}
	return out, nil
}
