package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Target delivers a job's occurrence to one replica of an app. A nil
// error is a delivery (an app answering that it has no handler for the job
// counts as one, as in daprd); ErrNotTaken means the replica could not
// take it (it is stopping) and the occurrence is delivered again, to
// whichever replica is attached then, without counting an attempt; any
// other error is a failure, retried as the job's failure policy says.
type Target interface {
	DeliverJob(ctx context.Context, name string, data *anypb.Any) error
}

// ErrNotTaken is a Target's answer for an occurrence it did not try to
// deliver.
var ErrNotTaken = errors.New("the replica did not take the job")

// ErrEnd is a Target's answer for an occurrence it delivered after which
// the job fires no more (an actor answering a reminder with
// X-DaprReminderCancel).
var ErrEnd = errors.New("the target ended the job")

// Timing of the firing loop. poll bounds how long the loop sleeps, so jobs
// another process scheduled in a shared file are seen; lease is how long a
// claimed occurrence is another scheduler's to leave alone, longer than a
// delivery may take (deliveryTimeout).
const (
	poll            = time.Second
	lease           = 2 * time.Minute
	deliveryTimeout = time.Minute
	batch           = 100
	maxInFlight     = 64
)

// Scheduler fires the jobs of every app of an environment (or of a
// standalone sidecar) from one database file. It is safe for concurrent
// use.
type Scheduler struct {
	st    *store
	log   *slog.Logger
	owner string // this scheduler's name in leases
	now   func() time.Time

	mu      sync.Mutex
	targets map[appKey]*targetSet

	wake   chan struct{}
	slots  chan struct{} // one per delivery in flight, up to maxInFlight
	ctx    context.Context
	cancel context.CancelFunc
	loop   sync.WaitGroup // the firing loop
	sends  sync.WaitGroup // deliveries in flight
}

type appKey struct{ namespace, appID string }

// targetSet is an app's attached replicas, taken in turn.
type targetSet struct {
	list []*attached
	turn int
}

type attached struct {
	t        Target
	inflight sync.WaitGroup
}

// Open opens (creating) the jobs database at path and starts firing the
// jobs it holds as their apps' replicas attach.
func Open(ctx context.Context, path string, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := openStore(ctx, path)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &Scheduler{st: st, log: log.With("block", "jobs"), owner: hex.EncodeToString(b[:]), now: time.Now,
		targets: map[appKey]*targetSet{}, wake: make(chan struct{}, 1), slots: make(chan struct{}, maxInFlight)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.loop.Add(1)
	go func() {
		defer s.loop.Done()
		s.run()
	}()
	return s, nil
}

// Path is the database file.
func (s *Scheduler) Path() string { return s.st.path }

// Close stops firing (deliveries in flight are cancelled and their
// occurrences left to be delivered again) and closes the database.
func (s *Scheduler) Close() error {
	s.cancel()
	s.loop.Wait()
	s.sends.Wait()
	return s.st.close()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// attach adds a replica of an app as a target; detach removes it and
// waits for its deliveries in flight.
func (s *Scheduler) attach(k appKey, t Target) (detach func()) {
	a := &attached{t: t}
	s.mu.Lock()
	ts := s.targets[k]
	if ts == nil {
		ts = &targetSet{}
		s.targets[k] = ts
	}
	ts.list = append(ts.list, a)
	s.mu.Unlock()
	s.poke()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if ts := s.targets[k]; ts != nil {
				for i, x := range ts.list {
					if x == a {
						ts.list = append(ts.list[:i:i], ts.list[i+1:]...)
						break
					}
				}
				if len(ts.list) == 0 {
					delete(s.targets, k)
				}
			}
			s.mu.Unlock()
			a.inflight.Wait()
		})
	}
}

// pick takes the app's next target in turn, nil when none is attached;
// the caller's delivery is counted on it.
func (s *Scheduler) pick(k appKey) *attached {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.targets[k]
	if ts == nil || len(ts.list) == 0 {
		return nil
	}
	a := ts.list[ts.turn%len(ts.list)]
	ts.turn++
	a.inflight.Add(1)
	return a
}

// run is the firing loop: deliver what is due to attached apps, then
// sleep until the next job is due, something changes, or poll passes.
func (s *Scheduler) run() {
	tm := time.NewTimer(0)
	defer tm.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tm.C:
		case <-s.wake:
		}
		now := s.now()
		full, err := s.fireDue(now)
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("due jobs not read", slog.Any("error", err))
		}
		wait := poll
		if full {
			wait = 0
		} else if next, err := s.st.earliest(s.ctx, now); err == nil && !next.IsZero() && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
		if !tm.Stop() {
			select {
			case <-tm.C:
			default:
			}
		}
		tm.Reset(wait)
	}
}

// fireDue starts the delivery of the due jobs of each app with a target
// here (jobs of other apps wait for a replica of theirs, and do not hold
// these up); full reports a whole batch read, so more may be due.
func (s *Scheduler) fireDue(now time.Time) (full bool, err error) {
	for _, k := range s.attachedApps() {
		rows, err := s.st.due(s.ctx, k, now, batch)
		if err != nil {
			return false, err
		}
		started := 0
		for _, r := range rows {
			// Deliveries in flight are bounded: the loop waits for a slot.
			select {
			case s.slots <- struct{}{}:
			case <-s.ctx.Done():
				return false, nil
			}
			ok, err := s.st.claim(s.ctx, r, s.owner, now, now.Add(lease))
			if err != nil || !ok {
				<-s.slots
				if err != nil {
					return false, err
				}
				continue // another scheduler delivers it, or it changed
			}
			started++
			s.sends.Add(1)
			go func() {
				defer s.sends.Done()
				defer func() { <-s.slots }()
				s.deliver(k, r)
			}()
		}
		full = full || len(rows) == batch && started > 0
	}
	return full, nil
}

// attachedApps lists the apps with a target here.
func (s *Scheduler) attachedApps() []appKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]appKey, 0, len(s.targets))
	for k := range s.targets {
		out = append(out, k)
	}
	return out
}

// deliver sends a claimed occurrence to a target and records the outcome.
func (s *Scheduler) deliver(k appKey, r *row) {
	log := s.log.With(slog.String("app", r.appID), slog.String("job", r.name))
	a := s.pick(k)
	if a == nil {
		// The app's last replica left since the job was claimed.
		s.settle(log, s.st.release(context.Background(), r, s.owner))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, deliveryTimeout)
	err := a.t.DeliverJob(ctx, r.name, r.job.GetData())
	cancel()
	a.inflight.Done()
	if s.ctx.Err() != nil || errors.Is(err, ErrNotTaken) {
		// Stopping, or the replica is: the occurrence is delivered again,
		// after a restart or to another replica.
		s.settle(log, s.st.release(context.Background(), r, s.owner))
		return
	}
	if errors.Is(err, ErrEnd) {
		log.Debug("job delivered and ended by its target")
		s.settle(log, s.st.finish(context.Background(), r))
		return
	}
	now := s.now()
	if err != nil {
		log.Warn("job delivery failed", slog.Uint64("attempt", uint64(r.attempts+1)), slog.Any("error", err))
		r.attempts++
		if retry, ok := retryAfter(r.job.GetFailurePolicy(), r.attempts); ok {
			r.next = r.next.Add(retry)
			if r.next.Before(now) {
				r.next = now.Add(retry)
			}
			s.settle(log, s.st.advance(context.Background(), r, s.owner))
			s.poke()
			return
		}
	} else {
		log.Debug("job delivered")
	}
	// This occurrence is done with: the job goes on to its next, if any.
	r.fired++
	r.attempts = 0
	r.last = r.tick
	next, more := r.plan.after(r.fired, r.last, now)
	if !more {
		s.settle(log, s.st.finish(context.Background(), r))
		return
	}
	r.tick, r.next = next, next
	s.settle(log, s.st.advance(context.Background(), r, s.owner))
	s.poke()
}

func (s *Scheduler) settle(log *slog.Logger, err error) {
	if err != nil {
		log.Warn("job progress not stored; the occurrence may be delivered again", slog.Any("error", err))
	}
}

// defaultFailurePolicy is Dapr's for a job that names none: three retries,
// a second apart.
func defaultFailurePolicy() *commonv1pb.JobFailurePolicy {
	three := uint32(3)
	return &commonv1pb.JobFailurePolicy{Policy: &commonv1pb.JobFailurePolicy_Constant{
		Constant: &commonv1pb.JobFailurePolicyConstant{Interval: durationpb.New(time.Second), MaxRetries: &three},
	}}
}

// retryAfter says whether an occurrence that failed attempts times is
// tried again, and how long after: drop never, constant while the retries
// are not used up (no maximum is no limit).
func retryAfter(fp *commonv1pb.JobFailurePolicy, attempts uint32) (time.Duration, bool) {
	c := fp.GetConstant()
	if c == nil {
		return 0, false
	}
	if c.MaxRetries != nil && attempts > c.GetMaxRetries() {
		return 0, false
	}
	return c.GetInterval().AsDuration(), true
}

// newGen names one scheduling of a job, so progress recorded for a job
// that was replaced meanwhile is not applied to its successor.
func newGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var errClosed = errors.New("the scheduler is closed")

func (s *Scheduler) check() error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("jobs: %w", errClosed)
	}
	return nil
}
