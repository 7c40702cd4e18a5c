package resiliency

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy is what applies to calls to one target. Every part is optional;
// a nil Policy runs an operation once, as it is.
type Policy struct {
	// Timeout bounds each attempt, not the whole run, as in Dapr.
	Timeout time.Duration
	Retry   *Retry
	Breaker *Breaker
}

// HasRetries reports whether an operation may run more than once, so a
// caller knows whether to keep its request for replay.
func (p *Policy) HasRetries() bool { return p != nil && p.Retry != nil && p.Retry.MaxRetries != 0 }

// StatusError is an attempt that got an answer which counts as a failure:
// an HTTP status outside 200-399 or a gRPC code other than OK. It is
// retried when the policy's matching says so, and counted by breakers; the
// answer itself goes back to the caller once retries are exhausted.
type StatusError struct {
	Code int
	// GRPC says Code is a gRPC code rather than an HTTP status.
	GRPC bool
}

func (e *StatusError) Error() string {
	if e.GRPC {
		return fmt.Sprintf("gRPC status %d", e.Code)
	}
	return fmt.Sprintf("HTTP status %d", e.Code)
}

func asStatusError(err error) (*StatusError, bool) {
	var se *StatusError
	ok := errors.As(err, &se)
	return se, ok
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not to be retried (a request body that was
// partly sent cannot be sent again). Run returns err unwrapped.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// RunOptions tune one Run.
type RunOptions[T any] struct {
	// NoRetry runs the operation at most once whatever the policy says: its
	// request cannot be replayed (a stream, or a body above the cap).
	NoRetry bool
	// Dispose releases the result of an attempt that is being retried
	// (closes its body). Nil drops it.
	Dispose func(T)
	// Keep hands the result that is returned the attempt's cancel
	// function, to be called once the result is consumed (a response body
	// closed), so the timeout covers a streamed answer too. Nil cancels
	// when Run returns.
	Keep func(res T, cancel context.CancelFunc) T
	// Rand randomizes exponential intervals; nil uses math/rand/v2.
	Rand func() float64
}

// Run runs op under p: each attempt through the breaker and within the
// timeout; failed attempts retried on p's schedule while the failure
// matches. It returns the last attempt's result and error: a StatusError
// then comes with its result, which the caller passes on as the answer.
// A breaker that refuses an attempt yields ErrBreakerOpen or
// ErrTooManyRequests.
func Run[T any](ctx context.Context, p *Policy, op func(context.Context) (T, error), o RunOptions[T]) (T, error) {
	var zero T
	if p == nil {
		p = &Policy{}
	}
	var sched *Schedule
	if p.Retry != nil && !o.NoRetry {
		sched = p.Retry.Schedule(o.Rand)
	}
	for {
		var done func(bool)
		if p.Breaker != nil {
			var err error
			if done, err = p.Breaker.Allow(); err != nil {
				return zero, err
			}
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if p.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, p.Timeout)
		}
		res, err := op(actx)
		if err != nil && actx.Err() != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			// The attempt's own deadline cut it short; say so.
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		if done != nil {
			done(err == nil)
		}
		var perm permanentError
		isPerm := errors.As(err, &perm)
		if isPerm {
			err = perm.err
		}
		retry := err != nil && !isPerm && sched != nil && ctx.Err() == nil && p.Retry.retries(err)
		var wait time.Duration
		if retry {
			wait, retry = sched.Next()
		}
		if !retry {
			if _, isStatus := asStatusError(err); o.Keep != nil && (err == nil || isStatus) {
				return o.Keep(res, cancel), err
			}
			cancel()
			return res, err
		}
		if o.Dispose != nil {
			o.Dispose(res)
		}
		cancel()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, fmt.Errorf("waiting to retry after %w: %w", err, ctx.Err())
		case <-t.C:
		}
	}
}
