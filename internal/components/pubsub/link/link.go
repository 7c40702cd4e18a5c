// Package link ties publishes waiting for a broker's acknowledgement to
// the connection they were sent on: when the connection drops, they fail
// at once with ErrDropped instead of at their deadline, since the
// acknowledgement cannot come on a new connection. Brokers whose client
// reconnects by itself (NATS, MQTT) drop the link from the client's
// disconnect callback and renew it from its reconnect callback.
//
// It imports no cove package.
package link

import (
	"context"
	"errors"
	"sync"
)

// ErrDropped is the cause of a bound context ended by a dropped connection.
var ErrDropped = errors.New("the connection to the broker dropped before the publish was acknowledged")

// Link is the life of one connection.
type Link struct {
	parent context.Context
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// New returns a live link that also ends with parent.
func New(parent context.Context) *Link {
	l := &Link{parent: parent}
	l.ctx, l.cancel = context.WithCancelCause(parent)
	return l
}

// Drop ends the current connection's life.
func (l *Link) Drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancel(ErrDropped)
}

// Renew starts a new connection's life after a Drop; on a live link (a
// client reports its first connection too) it does nothing.
func (l *Link) Renew() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() == nil {
		return
	}
	l.ctx, l.cancel = context.WithCancelCause(l.parent)
}

// Bind returns ctx ending also when the current connection drops; Cause
// then reports ErrDropped. Call the CancelFunc when done.
func (l *Link) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	l.mu.Lock()
	cur := l.ctx
	l.mu.Unlock()
	out, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(cur, func() { cancel(context.Cause(cur)) })
	return out, func() { stop(); cancel(nil) }
}

// Err returns ErrDropped when ctx (from Bind) ended because the connection
// dropped, and err otherwise.
func Err(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrDropped) {
		return cause
	}
	return err
}
