package resiliency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Retry kinds, Dapr's `policy` values.
const (
	RetryConstant    = "constant"
	RetryExponential = "exponential"
)

// Dapr's defaults for retry policies.
const (
	DefaultConstantInterval    = 5 * time.Second
	DefaultInitialInterval     = 500 * time.Millisecond
	DefaultRandomizationFactor = 0.5
	DefaultMultiplier          = 1.5
	DefaultMaxInterval         = 60 * time.Second
	DefaultMaxElapsedTime      = 15 * time.Minute
)

// Retry is a retry policy.
type Retry struct {
	Name string
	// Kind is RetryConstant or RetryExponential.
	Kind string
	// Interval is the constant policy's wait between attempts.
	Interval time.Duration
	// The exponential policy's parameters; MaxElapsedTime 0 means no bound.
	InitialInterval     time.Duration
	RandomizationFactor float64
	Multiplier          float64
	MaxInterval         time.Duration
	MaxElapsedTime      time.Duration
	// MaxRetries is how many times a failed attempt is retried; -1 means
	// without limit, as in Dapr.
	MaxRetries int
	// HTTPStatusCodes and GRPCStatusCodes say which statuses are retried;
	// nil retries every failure, as when Dapr's `matching` is absent.
	HTTPStatusCodes, GRPCStatusCodes []CodeRange
}

// CodeRange is an inclusive range of status codes.
type CodeRange struct{ From, To int }

// Valid ranges of Dapr's matching patterns.
var (
	httpCodes = CodeRange{100, 599}
	grpcCodes = CodeRange{0, 16}
)

// ParseHTTPCodes parses a matching.httpStatusCodes pattern such as
// "429,500-599".
func ParseHTTPCodes(s string) ([]CodeRange, error) { return parseCodes(s, httpCodes) }

// ParseGRPCCodes parses a matching.gRPCStatusCodes pattern such as
// "1-4,8-11,13,14".
func ParseGRPCCodes(s string) ([]CodeRange, error) { return parseCodes(s, grpcCodes) }

func parseCodes(s string, valid CodeRange) ([]CodeRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []CodeRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		from, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%q is not a code or a range of codes like %d-%d", part, valid.From, valid.To)
		}
		to := from
		if isRange {
			if to, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%q is not a code or a range of codes like %d-%d", part, valid.From, valid.To)
			}
		}
		switch {
		case !valid.has(from) || !valid.has(to):
			return nil, fmt.Errorf("%q is outside the valid codes %d-%d", part, valid.From, valid.To)
		case to < from:
			return nil, fmt.Errorf("%q starts after it ends", part)
		}
		out = append(out, CodeRange{from, to})
	}
	return out, nil
}

func (r CodeRange) has(c int) bool { return r.From <= c && c <= r.To }

func matches(ranges []CodeRange, code int) bool {
	if ranges == nil {
		return true
	}
	for _, r := range ranges {
		if r.has(code) {
			return true
		}
	}
	return false
}

// retries reports whether a failure is one this policy retries.
func (r *Retry) retries(err error) bool {
	se, ok := asStatusError(err)
	if !ok {
		return true // transport errors and timeouts: always, as in Dapr
	}
	if se.GRPC {
		return matches(r.GRPCStatusCodes, se.Code)
	}
	return matches(r.HTTPStatusCodes, se.Code)
}

// Schedule returns the waits before each retry: the first value is the
// wait before the second attempt. rnd randomizes exponential intervals;
// nil uses math/rand/v2.
func (r *Retry) Schedule(rnd func() float64) *Schedule {
	if rnd == nil {
		rnd = rand.Float64
	}
	return &Schedule{r: r, rnd: rnd, next: r.InitialInterval}
}

// Schedule is one operation's sequence of retry waits.
type Schedule struct {
	r       *Retry
	rnd     func() float64
	retries int
	elapsed time.Duration
	next    time.Duration // the exponential policy's current interval
}

// Next returns the wait before the next retry, or false when the policy
// allows no more.
func (s *Schedule) Next() (time.Duration, bool) {
	r := s.r
	if r.MaxRetries >= 0 && s.retries >= r.MaxRetries {
		return 0, false
	}
	var wait time.Duration
	if r.Kind == RetryExponential {
		wait = s.next
		if f := r.RandomizationFactor; f > 0 {
			delta := f * float64(wait)
			wait = time.Duration(float64(wait) - delta + s.rnd()*(2*delta+1))
		}
		grown := float64(s.next) * r.Multiplier
		s.next = time.Duration(math.Min(grown, float64(r.MaxInterval)))
		if r.MaxElapsedTime > 0 && s.elapsed+wait > r.MaxElapsedTime {
			return 0, false
		}
	} else {
		wait = r.Interval
	}
	s.retries++
	s.elapsed += wait
	return wait, true
}
