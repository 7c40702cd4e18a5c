package control

import (
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// Load reads and validates an environment file (package spec) with what
// only the runtime knows checked in the same pass: that every component
// type is registered in a supported version and of a kind cove runs. All
// problems come back together as spec.Problems.
func Load(file string) (*spec.Environment, error) {
	return spec.LoadWith(file, spec.Options{CheckComponent: resources.CheckType})
}
