//go:build !linux

package engine

import (
	"errors"
	"log/slog"
)

// forward needs Linux network namespaces.
func forward(string, []Forward, *slog.Logger) (func(), error) {
	return nil, errors.New("forwarding into a pod needs Linux")
}
