package jobs

import (
	"errors"
	"fmt"
	"time"

	kitcron "github.com/dapr/kit/cron"
	kittime "github.com/dapr/kit/time"
)

// cronParser reads schedules as Dapr's scheduler does: six fields, seconds
// first, or a descriptor (@every 10s, @daily, @hourly...).
var cronParser = kitcron.NewParser(kitcron.Second | kitcron.Minute | kitcron.Hour | kitcron.Dom | kitcron.Month |
	kitcron.Dow | kitcron.Descriptor)

// plan is when a job fires: its parsed schedule, due time, ttl and repeats.
type plan struct {
	// cron is nil for a job with only a due time, which fires once.
	cron kitcron.Schedule
	// begin is the due time, or the time the job was scheduled without
	// one (the schedule's clock starts there; it does not fire then).
	begin  time.Time
	hasDue bool
	// expires is the ttl's end; zero for none.
	expires time.Time
	// repeats is how often it fires in all; 0 for no limit.
	repeats uint32
}

// spec is what a job says of its timing.
type spec struct {
	Schedule, DueTime, TTL *string
	Repeats                *uint32
}

// newPlan checks a job's timing as Dapr's scheduler does and works out its
// plan, now being when it is scheduled.
func newPlan(s spec, now time.Time) (*plan, error) {
	if s.DueTime == nil && s.Schedule == nil {
		return nil, errors.New("job must have either a due time or a schedule")
	}
	if s.Schedule == nil && s.Repeats != nil && *s.Repeats > 1 {
		return nil, errors.New("job must have a schedule to repeat")
	}
	if s.Repeats != nil && *s.Repeats < 1 {
		return nil, errors.New("defined repeats must be greater than 0")
	}
	if s.Schedule == nil && s.TTL != nil {
		return nil, errors.New("job must have a schedule to have a ttl")
	}
	p := &plan{begin: now.UTC()}
	if s.Repeats != nil {
		p.repeats = *s.Repeats
	}
	if s.Schedule != nil {
		c, err := cronParser.Parse(*s.Schedule)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", *s.Schedule, err)
		}
		p.cron = c
	}
	if s.DueTime != nil {
		t, err := pointInTime(*s.DueTime, p.begin)
		if err != nil {
			return nil, fmt.Errorf("dueTime %q: %w", *s.DueTime, err)
		}
		p.begin, p.hasDue = t.UTC(), true
	}
	if s.TTL != nil {
		t, err := pointInTime(*s.TTL, p.begin)
		if err != nil {
			return nil, fmt.Errorf("ttl %q: %w", *s.TTL, err)
		}
		if p.hasDue && p.begin.After(t) {
			return nil, errors.New("ttl must be greater than due time")
		}
		p.expires = t.UTC()
	}
	return p, nil
}

// pointInTime reads a due time or ttl: an RFC 3339 time, or a Go or ISO
// 8601 duration from from.
func pointInTime(s string, from time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return from.Add(d), nil
	}
	y, m, d, dur, rep, err := kittime.ParseISO8601Duration(s)
	if err != nil {
		return time.Time{}, errors.New(`not an RFC 3339 time ("2030-01-02T15:04:05Z"), a Go duration ("10s") or an ISO 8601 one ("PT10S")`)
	}
	if rep > 0 {
		return time.Time{}, errors.New("repetitions are not supported here")
	}
	return from.AddDate(y, m, d).Add(dur), nil
}

// next is when the job fires after count firings, the last at last (zero
// before the first), and whether it fires again at all.
func (p *plan) next(count uint32, last time.Time) (time.Time, bool) {
	if p.repeats > 0 && count >= p.repeats {
		return time.Time{}, false
	}
	var t time.Time
	switch {
	case p.cron == nil:
		if count > 0 {
			return time.Time{}, false
		}
		t = p.begin
	case last.IsZero() && p.hasDue:
		t = p.begin
	case last.IsZero():
		t = p.cron.Next(p.begin)
	default:
		t = p.cron.Next(last)
	}
	if t.IsZero() || !p.expires.IsZero() && t.After(p.expires) {
		return time.Time{}, false
	}
	return t, true
}

// after is the next firing once one at last has ended at now: a recurring
// job that missed occurrences (cove was down, or the app slow) fires the
// one it missed once, then goes on from now, rather than all of them.
func (p *plan) after(count uint32, last, now time.Time) (time.Time, bool) {
	t, ok := p.next(count, last)
	if !ok || p.cron == nil || !t.Before(now) {
		return t, ok
	}
	t = p.cron.Next(now)
	if t.IsZero() || !p.expires.IsZero() && t.After(p.expires) {
		return time.Time{}, false
	}
	return t, true
}
