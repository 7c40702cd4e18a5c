// Package lifetime is the life of a broker instance that every broker
// shares: a context that ends at Close, the goroutines (subscriptions,
// timers) Close waits for, subscription contexts that end with either
// their caller's context or Close, and a default bound for a publish whose
// context has none.
//
// It imports no cove package.
package lifetime

import (
	"context"
	"sync"
	"time"
)

// Lifetime is one broker instance's life. The zero value is not usable;
// call New.
type Lifetime struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New returns a live Lifetime.
func New() *Lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	return &Lifetime{ctx: ctx, cancel: cancel}
}

// Context ends at End.
func (l *Lifetime) Context() context.Context { return l.ctx }

// Ended reports whether End was called.
func (l *Lifetime) Ended() bool { return l.ctx.Err() != nil }

// Subscription returns a context that ends when ctx does or at End;
// release frees it.
func (l *Lifetime) Subscription(ctx context.Context) (sub context.Context, release func()) {
	sub, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	return sub, func() { stop(); cancel() }
}

// Go runs f in a goroutine End waits for. Call it only from a goroutine
// End waits for, or before End can run (under the broker's own check of
// Ended), as sync.WaitGroup requires.
func (l *Lifetime) Go(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// End ends the context, waits for every goroutine started with Go, then
// runs release (closing connections); only the first call does anything.
func (l *Lifetime) End(release func()) {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
		if release != nil {
			release()
		}
	})
}

// Bounded returns ctx with timeout d when it has no deadline of its own,
// so a publish cannot wait forever for an acknowledgement.
func Bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
