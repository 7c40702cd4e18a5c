package resiliency

import (
	"context"
	"errors"
)

// Call runs op once under p (nil runs it bare), as a building block calls
// a component: when the policy's timeout cut the last attempt short while
// ctx itself goes on, the error is context.DeadlineExceeded alone, as Dapr
// answers it, whatever the component said.
func Call[T any](ctx context.Context, p *Policy, op func(context.Context) (T, error)) (T, error) {
	if p == nil {
		return op(ctx)
	}
	res, err := Run(ctx, p, op, RunOptions[T]{})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = context.DeadlineExceeded
	}
	return res, err
}
