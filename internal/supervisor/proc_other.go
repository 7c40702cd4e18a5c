//go:build !unix

package supervisor

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

var errUnsupported = fmt.Errorf("process groups on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// SetSubreaper is supported on Linux only.
func SetSubreaper() error { return errors.ErrUnsupported }

func signalGroup(int, syscall.Signal) error { return errUnsupported }

func groupAlive(int) bool { return false }

// supported reports whether replicas can run on this system: without
// process groups a replica could not be stopped reliably.
func supported() error { return errUnsupported }

// ProcessAlive cannot tell here.
func ProcessAlive(int) bool { return false }
