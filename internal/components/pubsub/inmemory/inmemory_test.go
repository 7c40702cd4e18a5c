package inmemory_test

import (
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/inmemory"
)

func newBus(t *testing.T) pubsub.PubSub {
	t.Helper()
	info, err := components.Lookup(inmemory.Type, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	b, ok := info.New().(pubsub.PubSub)
	if !ok {
		t.Fatalf("%s does not build a pubsub.PubSub", inmemory.Type)
	}
	if err := b.Init(t.Context(), components.Metadata{Name: "pubsub", Type: inmemory.Type, Version: "v1"}); err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newBus, conformance.SingleInstance(), conformance.Ordered(),
		conformance.MetadataRoundTrip(), conformance.RedeliveryWithin(time.Second))
}
