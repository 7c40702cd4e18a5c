package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/components/nameresolution/conformance"
	"github.com/cove-env/cove/internal/components/nameresolution/sqlite"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	conformance.Run(t, func(t *testing.T, props map[string]string) nameresolution.Registry {
		md := components.Metadata{Name: "nr", Type: sqlite.Type, Version: "v1", BaseDir: dir,
			Properties: map[string]string{"connectionString": "nr.db"}}
		for k, v := range props {
			md.Properties[k] = v
		}
		r := sqlite.New()
		if err := r.Init(t.Context(), md); err != nil {
			t.Fatalf("Init: %v", err)
		}
		t.Cleanup(func() { _ = r.Close() })
		if want := filepath.Join(dir, "nr.db"); r.Path() != want {
			t.Errorf("Path = %s, want %s", r.Path(), want)
		}
		return r
	})
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
	}{
		{"no connection string", map[string]string{}},
		{"in memory", map[string]string{"connectionString": ":memory:"}},
		{"bad table name", map[string]string{"connectionString": "x.db", "tableName": "a;drop"}},
		{"short update interval", map[string]string{"connectionString": "x.db", "updateInterval": "500ms"}},
		{"bad duration", map[string]string{"connectionString": "x.db", "cleanupInterval": "soon"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sqlite.New()
			err := r.Init(t.Context(), components.Metadata{Name: "nr", Properties: tc.props, BaseDir: t.TempDir()})
			if err == nil {
				_ = r.Close()
				t.Fatal("Init succeeded")
			}
		})
	}
}
