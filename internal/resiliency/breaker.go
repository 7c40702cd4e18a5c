package resiliency

import (
	"errors"
	"sync"
	"time"
)

// Errors a breaker answers with instead of running an operation. Neither
// is retried.
var (
	ErrBreakerOpen     = errors.New("circuit breaker is open")
	ErrTooManyRequests = errors.New("too many requests")
)

// Dapr's defaults for circuit breakers.
const (
	DefaultBreakerTimeout     = 60 * time.Second
	DefaultBreakerMaxRequests = 1
)

// BreakerPolicy is a circuit breaker's configuration.
type BreakerPolicy struct {
	Name string
	// MaxRequests is how many requests may pass while half-open; that many
	// consecutive successes close the circuit.
	MaxRequests int
	// Interval is the period after which a closed breaker clears its
	// counts; 0 never clears them.
	Interval time.Duration
	// Timeout is how long the circuit stays open before it half-opens.
	Timeout time.Duration
	// Trip decides, after each failure while closed, whether to open.
	Trip *Trip
}

// State is a breaker's state.
type State int

// Breaker states.
const (
	Closed State = iota
	HalfOpen
	Open
)

func (s State) String() string {
	switch s {
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "closed"
}

// Counts are what a trip expression sees; they restart with each state
// change and, while closed, every Interval.
type Counts struct {
	Requests             uint32
	TotalSuccesses       uint32
	TotalFailures        uint32
	ConsecutiveSuccesses uint32
	ConsecutiveFailures  uint32
}

// Breaker is one circuit breaker's state machine: closed until the trip
// condition holds after a failure, then open (failing fast) for Timeout,
// then half-open, letting MaxRequests through: as many successes close
// it, one failure opens it again.
type Breaker struct {
	p        BreakerPolicy
	onChange func(from, to State)

	mu sync.Mutex
	// generation increments on every state change and counts reset, so a
	// result reported for an earlier generation is ignored.
	generation uint64
	state      State
	counts     Counts
	expiry     time.Time // end of the open period, or of the closed interval
}

// NewBreaker returns a closed breaker. onChange, if not nil, is called on
// each state change, with the breaker's lock held: it must not call back.
func NewBreaker(p BreakerPolicy, onChange func(from, to State)) *Breaker {
	if p.MaxRequests <= 0 {
		p.MaxRequests = DefaultBreakerMaxRequests
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultBreakerTimeout
	}
	b := &Breaker{p: p, onChange: onChange}
	b.toState(Closed, time.Now())
	return b
}

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, _ := b.current(time.Now())
	return st
}

// Allow asks to run one request. It returns ErrBreakerOpen or
// ErrTooManyRequests when the request must fail fast; otherwise done must
// be called once with the request's outcome.
func (b *Breaker) Allow() (done func(success bool), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	st, gen := b.current(now)
	switch {
	case st == Open:
		return nil, ErrBreakerOpen
	case st == HalfOpen && b.counts.Requests >= uint32(b.p.MaxRequests):
		return nil, ErrTooManyRequests
	}
	b.counts.Requests++
	return func(success bool) { b.done(gen, success) }, nil
}

func (b *Breaker) done(gen uint64, success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	st, cur := b.current(now)
	if gen != cur {
		return
	}
	c := &b.counts
	if success {
		c.TotalSuccesses++
		c.ConsecutiveSuccesses++
		c.ConsecutiveFailures = 0
		if st == HalfOpen && c.ConsecutiveSuccesses >= uint32(b.p.MaxRequests) {
			b.toState(Closed, now)
		}
		return
	}
	c.TotalFailures++
	c.ConsecutiveFailures++
	c.ConsecutiveSuccesses = 0
	switch st {
	case Closed:
		if b.trips() {
			b.toState(Open, now)
		}
	case HalfOpen:
		b.toState(Open, now)
	}
}

func (b *Breaker) trips() bool {
	if b.p.Trip != nil {
		return b.p.Trip.Eval(b.counts)
	}
	return b.counts.ConsecutiveFailures > 5
}

// current moves time-driven transitions forward: an open breaker
// half-opens after Timeout, a closed one clears its counts every Interval.
func (b *Breaker) current(now time.Time) (State, uint64) {
	switch b.state {
	case Closed:
		if !b.expiry.IsZero() && !now.Before(b.expiry) {
			b.newGeneration(now)
		}
	case Open:
		if !now.Before(b.expiry) {
			b.toState(HalfOpen, now)
		}
	}
	return b.state, b.generation
}

func (b *Breaker) toState(st State, now time.Time) {
	prev := b.state
	b.state = st
	b.newGeneration(now)
	if prev != st && b.onChange != nil {
		b.onChange(prev, st)
	}
}

func (b *Breaker) newGeneration(now time.Time) {
	b.generation++
	b.counts = Counts{}
	b.expiry = time.Time{}
	switch b.state {
	case Closed:
		if b.p.Interval > 0 {
			b.expiry = now.Add(b.p.Interval)
		}
	case Open:
		b.expiry = now.Add(b.p.Timeout)
	}
}
