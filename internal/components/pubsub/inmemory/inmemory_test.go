package inmemory_test

import (
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

func BenchmarkPublishDeliver(b *testing.B) {
	conformance.Bench(b, conformance.MustOpen(b, inmemory.Type, nil), nil)
}
