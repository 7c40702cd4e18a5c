//go:build unix

package jetstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockStore keeps a second embedded server, in this process or another,
// off a store directory in use: two servers writing one store would corrupt
// it. The lock file sits beside the directory; the kernel releases it when
// the holder dies, so a killed cove does not block the next. A holder that
// is closing (a component being replaced) gets until ctx ends.
func lockStore(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Clean(dir)+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the embedded JetStream store: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock the embedded JetStream store: %w", err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("the embedded JetStream store %s is in use by another cove process or component; give each its own component name, or set natsURL to share a JetStream server", dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
