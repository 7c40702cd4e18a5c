//go:build !unix

package jetstream

import "context"

// lockStore does nothing where flock is unavailable: two processes must
// then not run one embedded store at once.
func lockStore(context.Context, string) (func(), error) { return func() {}, nil }
