package all_test

import (
	"testing"

	"github.com/cove-env/cove/internal/components"
	_ "github.com/cove-env/cove/internal/components/all"
	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/components/state"
)

func TestStateStoresRegistered(t *testing.T) {
	tests := []struct {
		name, typ, version string
	}{
		{"in-memory", "state.in-memory", "v1"},
		{"mysql", "state.mysql", "v1"},
		{"postgresql v1", "state.postgresql", "v1"},
		{"postgresql v2", "state.postgresql", "v2"},
		{"redis", "state.redis", "v1"},
		{"sqlite", "state.sqlite", "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := components.Lookup(tt.typ, tt.version)
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			if _, ok := info.New().(state.Store); !ok {
				t.Errorf("%s does not build a state.Store", tt.typ)
			}
		})
	}
}

func TestNameResolutionRegistered(t *testing.T) {
	for _, typ := range []string{"nameresolution.sqlite", "nameresolution.redis", "nameresolution.postgresql"} {
		t.Run(typ, func(t *testing.T) {
			info, err := components.Lookup(typ, "v1")
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			if _, ok := info.New().(nameresolution.Registry); !ok {
				t.Errorf("%s does not build a nameresolution.Registry", typ)
			}
		})
	}
}

func TestSecretStoresRegistered(t *testing.T) {
	for _, typ := range []string{"secretstores.local.file", "secretstores.local.env"} {
		t.Run(typ, func(t *testing.T) {
			info, err := components.Lookup(typ, "v1")
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			if _, ok := info.New().(secretstores.Store); !ok {
				t.Errorf("%s does not build a secretstores.Store", typ)
			}
		})
	}
}

func TestLockConfigurationAndBindingsRegistered(t *testing.T) {
	for _, c := range []struct {
		typ  string
		kind func(any) bool
	}{
		{"lock.in-memory", func(v any) bool { _, ok := v.(lock.Store); return ok }},
		{"lock.redis", func(v any) bool { _, ok := v.(lock.Store); return ok }},
		{"configuration.local.file", func(v any) bool { _, ok := v.(configuration.Store); return ok }},
		{"configuration.redis", func(v any) bool { _, ok := v.(configuration.Store); return ok }},
		{"configuration.postgresql", func(v any) bool { _, ok := v.(configuration.Store); return ok }},
		{"configuration.postgres", func(v any) bool { _, ok := v.(configuration.Store); return ok }},
		{"bindings.http", func(v any) bool { _, ok := v.(bindings.Output); return ok }},
		{"bindings.localstorage", func(v any) bool { _, ok := v.(bindings.Output); return ok }},
		{"bindings.redis", func(v any) bool { _, ok := v.(bindings.Output); return ok }},
		{"bindings.postgresql", func(v any) bool { _, ok := v.(bindings.Output); return ok }},
		{"bindings.postgres", func(v any) bool { _, ok := v.(bindings.Output); return ok }},
		{"bindings.mysql", func(v any) bool { _, ok := v.(bindings.Output); return ok }},
	} {
		info, err := components.LookupComponent(c.typ, "v1")
		if err != nil {
			t.Errorf("%s: %v", c.typ, err)
			continue
		}
		if !c.kind(info.New()) {
			t.Errorf("%s builds a %T, not its kind's interface", c.typ, info.New())
		}
	}
}
