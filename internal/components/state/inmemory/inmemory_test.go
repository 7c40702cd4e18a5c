package inmemory_test

import (
	"testing"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/components/state/inmemory"
)

func newStore(t *testing.T) state.Store {
	t.Helper()
	info, err := components.Lookup(inmemory.Type, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	s, ok := info.New().(state.Store)
	if !ok {
		t.Fatalf("%s does not build a state.Store", inmemory.Type)
	}
	if err := s.Init(t.Context(), components.Metadata{Name: "statestore", Type: inmemory.Type, Version: "v1"}); err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newStore)
}

func TestCloseWithoutInit(t *testing.T) {
	s := inmemory.New()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
