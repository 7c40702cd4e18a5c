package configuration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// ErrClosed: the store was closed; it takes no more subscriptions.
var ErrClosed = errors.New("configuration store is closed")

// Subscriptions is what stores share of their subscriptions' bookkeeping:
// ids, each subscription's context (ended by Unsubscribe, Close or the
// subscriber's own context), and waiting for their goroutines at Close.
// The zero value is ready to use.
type Subscriptions struct {
	mu     sync.Mutex
	subs   map[string]context.CancelFunc
	closed bool
	wg     sync.WaitGroup
}

// Start registers a subscription made under ctx and returns its id and
// the context its goroutine runs under, which outlives ctx's values'
// deadlines but ends with ctx, Unsubscribe or Close. The goroutine calls
// done when it returns; a subscription that fails before it starts one
// calls done too.
func (s *Subscriptions) Start(ctx context.Context) (id string, sub context.Context, done func(), err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", nil, nil, fmt.Errorf("subscription id: %w", err)
	}
	id = hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", nil, nil, ErrClosed
	}
	if s.subs == nil {
		s.subs = map[string]context.CancelFunc{}
	}
	sub, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	s.subs[id] = cancel
	s.wg.Add(1)
	var once sync.Once
	done = func() {
		once.Do(func() {
			stop()
			s.remove(id)
			s.wg.Done()
		})
	}
	return id, sub, done, nil
}

// remove ends and forgets id; it reports whether id was there.
func (s *Subscriptions) remove(id string) bool {
	s.mu.Lock()
	cancel, ok := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	if ok {
		cancel()
	}
	return ok
}

// Unsubscribe ends the subscription id; an id that is not running is an
// error.
func (s *Subscriptions) Unsubscribe(id string) error {
	if !s.remove(id) {
		return fmt.Errorf("subscription with id %s does not exist", id)
	}
	return nil
}

// Close ends every subscription, refuses new ones, and waits for their
// goroutines.
func (s *Subscriptions) Close() {
	s.mu.Lock()
	s.closed = true
	for id, cancel := range s.subs {
		cancel()
		delete(s.subs, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
}
