//go:build !unix

package engine

// lockFile does nothing where flock is unavailable.
func lockFile(string) (unlock func()) { return func() {} }
