//go:build !unix

package standalone

// lockCADir does nothing where flock is unavailable: sidecars started at
// the same moment on a fresh machine may then race to create the CA.
func lockCADir(string) (func(), error) { return func() {}, nil }
