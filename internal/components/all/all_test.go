package all_test

import (
	"testing"

	"github.com/cove-env/cove/internal/components"
	_ "github.com/cove-env/cove/internal/components/all"
	"github.com/cove-env/cove/internal/components/state"
)

func TestStateStoresRegistered(t *testing.T) {
	for _, typ := range []string{"state.in-memory", "state.redis", "state.sqlite"} {
		info, err := components.Lookup(typ, "v1")
		if err != nil {
			t.Fatalf("lookup %s: %v", typ, err)
		}
		if _, ok := info.New().(state.Store); !ok {
			t.Errorf("%s does not build a state.Store", typ)
		}
	}
}
