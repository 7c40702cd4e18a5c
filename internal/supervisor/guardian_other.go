//go:build !unix

package supervisor

import (
	"errors"
	"io"
	"time"
)

// StartGuardian is supported on Unix systems only.
func StartGuardian(string, ...string) (*Guardian, error) { return nil, errors.ErrUnsupported }

// RunGuardian is supported on Unix systems only.
func RunGuardian(io.Reader, time.Duration) {}
