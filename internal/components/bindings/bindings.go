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
