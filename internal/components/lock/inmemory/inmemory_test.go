package inmemory_test

import (
	"testing"

	"github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/components/lock/conformance"
	"github.com/cove-env/cove/internal/components/lock/inmemory"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) (lock.Store, lock.Store) {
		st, err := conformance.Open(t, inmemory.Type, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st, st
	})
}
