// Package componenttest holds what the conformance suites of every kind
// share: building a component from the registry as the hosts do.
//
// It imports only the components registry; only tests and conformance
// suites import it.
package componenttest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/cove-env/cove/internal/components"
)

// Open builds the registered type typ from the registry, as the hosts do,
// checks that it implements T, initialises it with props under the name
// "test" and closes it when t ends. An Init error is returned, so a test
// can check it.
func Open[T components.Component](t testing.TB, typ string, props map[string]string) (T, error) {
	t.Helper()
	var zero T
	info, err := components.Lookup(typ, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	c, ok := info.New().(T)
	if !ok {
		t.Fatalf("%s does not build a %T", typ, zero)
	}
	md := components.Metadata{Name: "test", Type: typ, Version: "v1", Properties: props, AppID: "conformance", BaseDir: t.TempDir()}
	if err := c.Init(t.Context(), md); err != nil {
		return zero, err
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", typ, err)
		}
	})
	return c, nil
}

// Unique is a random prefix for a test's keys, tables or files, in the
// characters every backend accepts in names (lower-case letters, digits,
// '_'), so tests sharing a server never meet.
func Unique() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "cove_test_" + hex.EncodeToString(b) + "_"
}
