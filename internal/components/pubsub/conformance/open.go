package conformance

import (
	"testing"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
)

// Open builds the registered broker type typ from the registry, as the
// hosts do, initialises it with props and closes it when t ends.
func Open(t *testing.T, typ string, props map[string]string) (pubsub.PubSub, error) {
	t.Helper()
	info, err := components.Lookup(typ, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	ps, ok := info.New().(pubsub.PubSub)
	if !ok {
		t.Fatalf("%s does not build a pubsub.PubSub", typ)
	}
	md := components.Metadata{Name: "pubsub", Type: typ, Version: "v1", Properties: props, AppID: "conformance", BaseDir: t.TempDir()}
	if err := ps.Init(t.Context(), md); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := ps.Close(); err != nil {
			t.Errorf("close %s: %v", typ, err)
		}
	})
	return ps, nil
}

// MustOpen is Open failing the test on an Init error.
func MustOpen(t *testing.T, typ string, props map[string]string) pubsub.PubSub {
	t.Helper()
	ps, err := Open(t, typ, props)
	if err != nil {
		t.Fatalf("init %s: %v", typ, err)
	}
	return ps
}
