package actors

import (
	"context"
	"errors"
	"time"

	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// Policies are an app's resiliency policies for actor calls (a Resiliency
// resource's targets.actors), split as daprd splits them.
type Policies interface {
	// Call applies to a call of an actor's method the app makes, each
	// attempt waiting for the actor's turn: its retry and circuit
	// breakers, outermost first (a type's breaker, then an actor's). Nil
	// when none applies.
	Call(actorType, actorID string) []*resiliency.Policy
	// Timeout bounds each call of the app hosting the actor, once the call
	// has the actor's turn: methods, timers and reminders. Zero: none.
	Timeout(actorType string) time.Duration
}

// notFound marks an app's 404 for a method: not retried, as in daprd.
type notFound struct{ error }

func (e notFound) Unwrap() error { return e.error }

// invokeWithPolicies runs one call under the caller's policies. An answer
// the actor marks as its own error counts as a failure, as daprd counts
// it, and still reaches the caller as the app wrote it.
func (r *Runtime) invokeWithPolicies(ctx context.Context, req *Request, pols []*resiliency.Policy) (*Response, error) {
	call := func(ctx context.Context) (*Response, error) {
		res, err := r.invokeOnce(ctx, req)
		var nf notFound
		var far *elsewhere
		switch {
		case errors.As(err, &nf), errors.As(err, &far):
			// Another sidecar's actor is called there, under its policies.
			return nil, resiliency.Permanent(err)
		case err == nil && res.Header.Get(ErrorResponseHeader) != "":
			return res, &resiliency.StatusError{Code: res.Status}
		}
		return res, err
	}
	for i := len(pols) - 1; i >= 0; i-- {
		inner, pol := call, pols[i]
		call = func(ctx context.Context) (*Response, error) {
			return resiliency.Run(ctx, pol, inner, resiliency.RunOptions[*Response]{})
		}
	}
	res, err := call(ctx)
	var se *resiliency.StatusError
	if errors.As(err, &se) && res != nil {
		return res, nil
	}
	if errors.Is(err, resiliency.ErrBreakerOpen) || errors.Is(err, resiliency.ErrTooManyRequests) {
		return nil, daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: %v", err)
	}
	return res, err
}
