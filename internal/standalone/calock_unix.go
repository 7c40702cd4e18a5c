//go:build unix

package standalone

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockCADir serialises the first use of a CA directory between sidecar
// processes started at once, so they create one CA rather than racing to
// write two. The lock file sits beside the directory; unlock releases it.
func lockCADir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("create the CA's parent directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Clean(dir)+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the CA directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock the CA directory: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
