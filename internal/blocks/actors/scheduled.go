package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/daprerr"
)

// reminderDataType is the type of a reminder job's data: the Reminder as
// it was created, in JSON, so GET answers with what was given.
const reminderDataType = "cove/actors.Reminder"

// scheduledReminders keeps an app's reminders as jobs of the jobs
// scheduler, as daprd 1.18 keeps them in its scheduler service: one job
// per actor type, id and name, whatever app created it, delivered to a
// sidecar hosting the type, which fires it where the actor lives now.
type scheduledReminders struct {
	s     *jobs.Scheduler
	ns    string
	store Store // the actor state store; reminders found in it move to s
	log   *slog.Logger

	mu       sync.Mutex
	migrated map[string]bool // types whose stored reminders moved
}

func (sr *scheduledReminders) of(typ string) *jobs.Service { return sr.s.ActorReminders(typ, sr.ns) }

// check is daprd's check before the reminder API: the calling sidecar's
// app hosts the type, and an actor state store is configured.
func (sr *scheduledReminders) check(self *Host, typ string) error {
	if self == nil || !self.hosts(typ) {
		return daprerr.New(daprerr.ActorReminderNonHosted, "operations on actor reminders are only possible on hosted actor types")
	}
	if sr.store == nil {
		return daprerr.NoActorStateStore()
	}
	return nil
}

// reminderJob is the job of a reminder that fires next at next, having
// fired fired times: the reminder's period as an @every schedule and its
// R<n>/ as repeats (what is left of them), its ttl as the job's.
func reminderJob(r *Reminder, next time.Time, fired int) (*runtimev1pb.Job, error) {
	s, err := newSchedule(r.DueTime, r.Period, r.TTL, r.RegisteredTime)
	if err != nil {
		return nil, err
	}
	// The job keeps the reminder as created; its progress is the job's.
	c := *r
	c.NextTime, c.Fired, c.ExpirationTime = time.Time{}, 0, time.Time{}
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	due := next.UTC().Format(time.RFC3339Nano)
	job := &runtimev1pb.Job{Name: jobs.ReminderName(r.ActorID, r.Name), DueTime: &due,
		Data: &anypb.Any{TypeUrl: reminderDataType, Value: data}}
	if s.period.zero() {
		return job, nil
	}
	if s.period.years != 0 || s.period.months != 0 {
		return nil, fmt.Errorf("period %q: a reminder's period may not count years or months (days are 24 hours)", r.Period)
	}
	every := "@every " + (time.Duration(s.period.days)*24*time.Hour + s.period.d).String()
	job.Schedule = &every
	if s.period.repeats != -1 {
		left := uint32(max(s.period.repeats-fired, 1))
		job.Repeats = &left
	}
	if !s.ttl.IsZero() {
		ttl := s.ttl.UTC().Format(time.RFC3339Nano)
		job.Ttl = &ttl
	}
	return job, nil
}

// Create schedules a reminder, replacing one of its name.
func (sr *scheduledReminders) Create(ctx context.Context, self *Host, req ReminderRequest) error {
	r, err := newReminder(req)
	if err != nil {
		return err
	}
	if err := sr.check(self, req.Type); err != nil {
		return err
	}
	job, err := reminderJob(r, r.NextTime, 0)
	if err != nil {
		return daprerr.New(daprerr.Malformed, "reminder %s: %v", req.Name, err)
	}
	if err := sr.of(req.Type).Schedule(ctx, job, true); err != nil {
		return daprerr.New(daprerr.ActorReminderCreate, "error creating actor reminder: %v", err)
	}
	return nil
}

// Get returns a reminder as it was created.
func (sr *scheduledReminders) Get(ctx context.Context, self *Host, typ, id, name string) (*Reminder, error) {
	if err := sr.check(self, typ); err != nil {
		return nil, err
	}
	job, err := sr.of(typ).Find(ctx, jobs.ReminderName(id, name))
	if err != nil {
		return nil, daprerr.New(daprerr.ActorReminderGet, "error getting actor reminder: %v", err)
	}
	if job == nil {
		return nil, daprerr.New(daprerr.ActorReminderNotFound, "actor reminder not found: %s", name)
	}
	var r Reminder
	if err := json.Unmarshal(job.GetData().GetValue(), &r); err != nil {
		return nil, daprerr.New(daprerr.ActorReminderGet, "error getting actor reminder: the stored job is not one cove writes: %v", err)
	}
	return &r, nil
}

// Delete removes a reminder; one that does not exist is no error.
func (sr *scheduledReminders) Delete(ctx context.Context, self *Host, typ, id, name string) error {
	if err := sr.check(self, typ); err != nil {
		return err
	}
	if err := sr.of(typ).Delete(ctx, jobs.ReminderName(id, name)); err != nil {
		return daprerr.New(daprerr.ActorReminderDelete, "error deleting actor reminder: %v", err)
	}
	return nil
}

// migrate moves a type's reminders kept in the actor state store (by an
// earlier cove, under actors||<type>) to the scheduler, going on where
// they were, and then removes them from the store; once per type.
func (sr *scheduledReminders) migrate(ctx context.Context, typ string) error {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.store == nil || sr.migrated[typ] {
		return nil
	}
	list, err := readReminders(ctx, sr.store, typ)
	if err != nil {
		return err
	}
	svc := sr.of(typ)
	for _, r := range list {
		name := jobs.ReminderName(r.ActorID, r.Name)
		if job, err := svc.Find(ctx, name); err != nil {
			return err
		} else if job != nil {
			continue // moved already, or created since
		}
		job, err := reminderJob(r, r.NextTime, r.Fired)
		if err == nil {
			err = svc.Schedule(ctx, job, false)
		}
		if err != nil {
			sr.log.Warn("a stored actor reminder is not moved to the scheduler", slog.String("reminder", r.key()), slog.Any("error", err))
		}
	}
	if len(list) > 0 {
		if err := sr.store.Delete(ctx, &cstate.DeleteRequest{Key: storeKey(typ)}); err != nil {
			return fmt.Errorf("reminders of actor type %s moved to the scheduler, but not removed from the state store: %w", typ, err)
		}
		sr.log.Info("actor reminders moved from the state store to the scheduler", slog.String("type", typ), slog.Int("count", len(list)))
	}
	sr.migrated[typ] = true
	return nil
}

// reminderMark, on a reminder's call forwarded to the sidecar the actor
// lives on, says it is a reminder firing (Request.Fire), not a method.
const reminderMark = "Cove-Actor-Reminder"

// reminderTarget fires a type's reminders for a sidecar hosting it,
// through the runtime, on the replica the actor lives on now.
type reminderTarget struct {
	rt *Runtime
}

func (t *reminderTarget) DeliverJob(ctx context.Context, _ string, data *anypb.Any) error {
	var r Reminder
	if err := json.Unmarshal(data.GetValue(), &r); err != nil {
		return fmt.Errorf("the reminder's job holds no reminder: %w", err)
	}
	body, _ := json.Marshal(struct {
		Data    json.RawMessage `json:"data,omitempty"`
		DueTime string          `json:"dueTime"`
		Period  string          `json:"period"`
	}{r.Data, r.DueTime, r.Period})
	res, err := t.rt.Invoke(ctx, &Request{Type: r.ActorType, ID: r.ActorID, Method: "remind/" + r.Name, Body: body,
		Header: http.Header{"Content-Type": {"application/json"}, reminderMark: {"true"}},
		Fire:   &Fire{Name: r.Name, DueTime: r.DueTime, Period: r.Period, Data: r.Data}})
	var de *daprerr.Error
	if errors.As(err, &de) && de.Kind == daprerr.ActorNoAddress || errors.Is(err, errMoved) {
		// No replica hosts the type now, or the actor moved during the
		// call: the occurrence waits for its next host.
		return jobs.ErrNotTaken
	}
	if err != nil {
		return err
	}
	if components.Truthy(res.Header.Get(ReminderCancelHeader)) {
		return jobs.ErrEnd
	}
	return nil
}

// fireOf rebuilds the reminder firing of a call forwarded from another
// sidecar (see reminderMark).
func fireOf(req *Request) *Fire {
	name, ok := strings.CutPrefix(req.Method, "remind/")
	if !ok || req.Header.Get(reminderMark) == "" {
		return nil
	}
	var b struct {
		Data    json.RawMessage `json:"data"`
		DueTime string          `json:"dueTime"`
		Period  string          `json:"period"`
	}
	_ = json.Unmarshal(req.Body, &b)
	return &Fire{Name: name, DueTime: b.DueTime, Period: b.Period, Data: b.Data}
}
