package conformance

import (
	"maps"
	"testing"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/componenttest"
	"github.com/cove-env/cove/internal/components/pubsub"
)

// Open builds the registered broker type typ from the registry, as the
// hosts do, initialises it with props and closes it when t ends.
func Open(t testing.TB, typ string, props map[string]string) (pubsub.PubSub, error) {
	t.Helper()
	return componenttest.Open[pubsub.PubSub](t, typ, props)
}

// OpenMetadata is Open with the whole component metadata (a BaseDir of
// the test's choosing, say).
func OpenMetadata(t testing.TB, md components.Metadata) (pubsub.PubSub, error) {
	t.Helper()
	typ := md.Type
	info, err := components.Lookup(typ, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	ps, ok := info.New().(pubsub.PubSub)
	if !ok {
		t.Fatalf("%s does not build a pubsub.PubSub", typ)
	}
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
func MustOpen(t testing.TB, typ string, props map[string]string) pubsub.PubSub {
	t.Helper()
	ps, err := Open(t, typ, props)
	if err != nil {
		t.Fatalf("init %s: %v", typ, err)
	}
	return ps
}

// With returns a copy of props with the key/value pairs kv set, for tests
// that vary one component's metadata.
func With(props map[string]string, kv ...string) map[string]string {
	out := maps.Clone(props)
	if out == nil {
		out = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
