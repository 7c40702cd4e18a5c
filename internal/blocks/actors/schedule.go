package actors

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// period is how often a timer or reminder fires again: a Go duration, or
// an ISO 8601 duration with an optional R<n>/ repetition count.
type period struct {
	years, months, days int
	d                   time.Duration
	// repeats is how many times it fires in all; -1 for no limit.
	repeats int
}

func (p period) zero() bool { return p.years == 0 && p.months == 0 && p.days == 0 && p.d == 0 }

func (p period) after(t time.Time) time.Time { return t.AddDate(p.years, p.months, p.days).Add(p.d) }

var errISO = errors.New("not an ISO 8601 duration")

// parseISO reads [R<n>/]P[nY][nM][nW][nD][T[nH][nM][nS]].
func parseISO(s string) (period, error) {
	p := period{repeats: -1}
	if rest, ok := strings.CutPrefix(s, "R"); ok {
		n, tail, found := strings.Cut(rest, "/")
		if !found {
			return p, errISO
		}
		r, err := strconv.Atoi(n)
		if err != nil || r < 0 {
			return p, errISO
		}
		p.repeats, s = r, tail
		if s == "" {
			return p, nil
		}
	}
	s, ok := strings.CutPrefix(s, "P")
	if !ok || s == "" {
		return p, errISO
	}
	inTime := false
	num := ""
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			num += string(c)
			continue
		case c == 'T' && num == "" && !inTime:
			inTime = true
			continue
		}
		if num == "" {
			return p, errISO
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return p, errISO
		}
		num = ""
		switch {
		case c == 'Y' && !inTime:
			p.years = n
		case c == 'M' && !inTime:
			p.months = n
		case c == 'W' && !inTime:
			p.days += 7 * n
		case c == 'D' && !inTime:
			p.days += n
		case c == 'H' && inTime:
			p.d += time.Duration(n) * time.Hour
		case c == 'M' && inTime:
			p.d += time.Duration(n) * time.Minute
		case c == 'S' && inTime:
			p.d += time.Duration(n) * time.Second
		default:
			return p, errISO
		}
	}
	if num != "" {
		return p, errISO
	}
	return p, nil
}

// parsePeriod reads a period as Dapr does: ISO 8601 first, then Go.
func parsePeriod(field, s string) (period, error) {
	if p, err := parseISO(s); err == nil {
		if p.repeats == 0 {
			return p, fmt.Errorf("%s %q has zero repetitions", field, s)
		}
		return p, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return period{}, fmt.Errorf("%s %q is neither a Go duration (\"10s\") nor an ISO 8601 one (\"PT10S\", \"R3/PT10S\")", field, s)
	}
	return period{d: d, repeats: -1}, nil
}

// parseTime reads a due time or ttl: a duration from now (ISO 8601
// without repetitions, or Go), or an RFC 3339 time.
func parseTime(field, s string, now time.Time) (time.Time, error) {
	if p, err := parseISO(s); err == nil {
		if p.repeats != -1 {
			return time.Time{}, fmt.Errorf("%s %q: repetitions are not allowed here", field, s)
		}
		return p.after(now), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q is neither a duration (\"10s\", \"PT10S\") nor an RFC 3339 time", field, s)
}

// schedule is when something fires: first at due, then every period
// until its repetitions or ttl run out.
type schedule struct {
	due    time.Time
	period period
	ttl    time.Time // zero for none
	fired  int
}

// newSchedule parses a timer's or reminder's due time, period and ttl.
func newSchedule(dueTime, periodS, ttl string, now time.Time) (schedule, error) {
	s := schedule{due: now, period: period{repeats: -1}}
	var err error
	if dueTime != "" {
		if s.due, err = parseTime("dueTime", dueTime, now); err != nil {
			return s, err
		}
	}
	if periodS != "" {
		if s.period, err = parsePeriod("period", periodS); err != nil {
			return s, err
		}
	}
	if ttl != "" {
		if s.ttl, err = parseTime("ttl", ttl, s.due); err != nil {
			return s, err
		}
		if s.ttl.Before(s.due) {
			return s, fmt.Errorf("ttl %q ends before the due time", ttl)
		}
	}
	return s, nil
}

// next is the time of the next firing after one at t, and whether there
// is one.
func (s *schedule) next(t time.Time) (time.Time, bool) {
	s.fired++
	if s.period.zero() && s.period.repeats == -1 {
		return time.Time{}, false
	}
	if s.period.repeats != -1 && s.fired >= s.period.repeats {
		return time.Time{}, false
	}
	n := s.period.after(t)
	if !s.ttl.IsZero() && n.After(s.ttl) {
		return time.Time{}, false
	}
	return n, true
}
