// Package bindings defines the interface every output binding implements:
// named operations invoked with data and metadata. Implementations live in
// subpackages (http, localstorage, redis, postgresql, mysql) and register
// with the components registry, each passing its tests against its real
// server.
//
// Input bindings (events delivered to the app) are of the same kind;
// the kind check below grows with them.
package bindings

import (
	"context"
	"errors"
	"strings"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of bindings.
const Kind = "bindings"

func init() { components.RegisterKind(components.KindOf[Output](Kind)) }

// The operations Dapr's bindings share the names of.
const (
	OperationCreate = "create"
	OperationGet    = "get"
	OperationDelete = "delete"
	OperationList   = "list"
	OperationExec   = "exec"
	OperationQuery  = "query"
	OperationClose  = "close"
)

// Request is one invocation.
type Request struct {
	Operation string
	Data      []byte
	Metadata  map[string]string
}

// Response is what an invocation answers; Data and Metadata may be empty.
type Response struct {
	Data     []byte
	Metadata map[string]string
}

// RuntimeMetadata holds the metadata keys the runtime reads from a
// binding's component (direction; route, for input bindings); bindings
// embed it in the struct they decode their metadata into, so the keys are
// not reported unknown.
type RuntimeMetadata struct {
	Direction string `metadata:"direction"`
	Route     string `metadata:"route"`
}

// IsOutput reports whether a component with metadata md serves as an
// output binding, as daprd decides: without direction, yes; with it, when
// its comma list names output.
func IsOutput(md components.Metadata) bool {
	v, ok := md.Property("direction")
	if !ok {
		return true
	}
	for d := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(d), "output") {
			return true
		}
	}
	return false
}

// ErrInvalid marks a request the binding refuses as the caller's mistake
// (a missing metadata item, a path outside rootPath): not retried.
var ErrInvalid = errors.New("invalid request")

// Output is an output binding.
type Output interface {
	components.Component
	// Operations lists the operations Invoke accepts; the building block
	// refuses others, naming these.
	Operations() []string
	// Invoke runs one operation. A response may come with an error (an
	// HTTP binding's answer that is not 2xx): the caller still gets its
	// metadata.
	Invoke(ctx context.Context, req *Request) (*Response, error)
}
