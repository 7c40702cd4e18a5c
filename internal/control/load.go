package control

import (
	"errors"

	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// DaprAPIVersion is the Dapr runtime API the sidecars are compatible with.
const DaprAPIVersion = "1.17"

// Load reads and validates an environment file (package spec), then checks
// what only the runtime knows: that every component type is registered in
// a supported version. All problems come back together as spec.Problems.
func Load(file string) (*spec.Environment, error) {
	env, err := spec.Load(file)
	var probs spec.Problems
	if err != nil && !errors.As(err, &probs) {
		return nil, err
	}
	if env != nil {
		for _, entry := range env.Components {
			if entry.Component == nil {
				continue
			}
			if cerr := resources.CheckType(entry.Component); cerr != nil {
				probs = append(probs, spec.Problem{
					File: entry.Component.File, Line: entry.Component.TypeLine, Path: entry.Component.TypeField,
					Message: cerr.Error(), Severity: spec.SeverityError,
				})
			}
		}
	}
	if len(probs.Errors()) > 0 {
		return nil, probs
	}
	return env, nil
}
