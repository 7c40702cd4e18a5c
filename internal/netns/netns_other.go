//go:build !linux

package netns

import (
	"context"
	"errors"
	"log/slog"
	"net"
)

// Namespace is a network namespace; only Linux has them.
type Namespace struct{}

// ErrRefused is returned for every namespace on this platform.
var ErrRefused = errors.New("network namespaces need Linux")

// New fails: network namespaces need Linux.
func New([]string) (*Namespace, error) { return nil, ErrRefused }

// RunHolder fails: network namespaces need Linux.
func RunHolder() int { return 2 }

// Command is nil.
func (*Namespace) Command([]string) []string { return nil }

// Listen fails.
func (*Namespace) Listen(string) (net.Listener, error) { return nil, ErrRefused }

// Open fails: network namespaces need Linux.
func Open(string) (*Namespace, error) { return nil, ErrRefused }

// Close does nothing.
func (*Namespace) Close() error { return nil }

// ID is empty.
func (*Namespace) ID() string { return "" }

// Enter fails.
func (*Namespace) Enter() error { return ErrRefused }

// Do fails.
func (*Namespace) Do(func() error) error { return ErrRefused }

// DialContext fails.
func (*Namespace) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, ErrRefused
}

// Forward fails.
func (*Namespace) Forward([]Forward, *slog.Logger) (func(), error) { return nil, ErrRefused }

// Expose does nothing.
func (*Namespace) Expose(net.Listener, string, *slog.Logger) func() { return func() {} }
