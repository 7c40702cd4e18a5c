package inmemory_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/inmemory"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, inmemory.Type, nil) },
		conformance.SingleInstance(), conformance.Ordered(), conformance.MetadataRoundTrip(),
		conformance.RedeliveryWithin(time.Second))
}

// BenchmarkPublishDeliver compares the bus with a buffered Go channel that
// one goroutine drains: the least an in-process queue can do (a copy of
// each body, a hand-off between goroutines).
func BenchmarkPublishDeliver(b *testing.B) {
	conformance.Bench(b, conformance.MustOpen(b, inmemory.Type, nil), nil, channel)
}

// channel is the in-memory bus's baseline: a channel deep enough that a
// publish never waits, as the bus's queue does not.
func channel(b *testing.B, _, _ string, deliver func([]byte)) func(context.Context, []byte) error {
	ch := make(chan []byte, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for body := range ch {
			deliver(body)
		}
	}()
	b.Cleanup(func() { close(ch); <-done })
	return func(ctx context.Context, body []byte) error {
		select {
		case ch <- slices.Clone(body):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
