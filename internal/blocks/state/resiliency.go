package state

import (
	"context"
	"errors"

	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/resiliency"
)

// run makes one call to the entry's store under its outbound policy (the
// Resiliency target components.<store>.outbound): each attempt within the
// timeout and through the circuit breaker, failed attempts retried on the
// policy's schedule.
//
// Only the store's failures are retried and counted by the breaker: a
// refusal that is the caller's doing (an ETag conflict or a malformed ETag,
// a feature the store lacks, a request marked by rejected) is the store's
// answer, returned at once, as retrying it could only answer the same.
// Writes are retried like reads, as Dapr does: a retried Set writes the
// same value again, a retried Delete finds nothing to delete, and an
// ETag-guarded write that did land the first time answers a conflict, which
// is not retried again.
func run[T any](ctx context.Context, e *entry, op func(context.Context) (T, error)) (T, error) {
	if e.policy == nil {
		return op(ctx)
	}
	type answer struct {
		res T
		err error
	}
	a, err := resiliency.Run(ctx, e.policy, func(ctx context.Context) (answer, error) {
		res, err := op(ctx)
		if err != nil && !callersFault(err) {
			return answer{res, err}, err
		}
		return answer{res, err}, nil
	}, resiliency.RunOptions[answer]{})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// The policy's timeout cut the last attempt short; Dapr
			// answers with the deadline alone, whatever the store said.
			err = context.DeadlineExceeded
		}
		return a.res, err
	}
	return a.res, a.err
}

// runErr is run for calls that return only an error.
func runErr(ctx context.Context, e *entry, op func(context.Context) error) error {
	_, err := run(ctx, e, func(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) })
	return err
}

// rejectedError is a store error that the request caused.
type rejectedError struct{ err error }

func (r rejectedError) Error() string { return r.err.Error() }
func (r rejectedError) Unwrap() error { return r.err }

// rejected marks err as caused by the request, so it is not retried.
func rejected(err error) error {
	if err == nil {
		return nil
	}
	return rejectedError{err}
}

// callersFault reports whether err is the store refusing the request
// rather than failing.
func callersFault(err error) bool {
	var r rejectedError
	return errors.As(err, &r) ||
		errors.Is(err, cstate.ErrETagMismatch) ||
		errors.Is(err, cstate.ErrETagInvalid) ||
		errors.Is(err, cstate.ErrNotSupported) ||
		errors.Is(err, cstate.ErrQueryInvalid)
}

// rejectBadTTL marks a write's error as the request's when its
// ttlInSeconds does not parse: the store refused it for that, as every
// store checks it with cstate.ParseTTL.
func rejectBadTTL(err error, md map[string]string) error {
	if err == nil {
		return nil
	}
	if _, terr := cstate.ParseTTL(md); terr != nil {
		return rejected(err)
	}
	return err
}
