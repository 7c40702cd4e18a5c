// Package bindings defines the interfaces bindings implement: an output
// binding runs named operations invoked with data and metadata; an input
// binding reads events from its source for the app. Implementations live
// in subpackages and register with the components registry, each passing
// its tests against its real server; a type may be both.
package bindings

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of bindings.
const Kind = "bindings"

func init() {
	components.RegisterKind(components.Kind{Name: Kind, Implements: func(v any) bool {
		_, out := v.(Output)
		_, in := v.(Input)
		return out || in
	}})
}

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

// IsInput reports whether a component with metadata md names input in its
// direction metadata: such a binding is read without asking the app first
// whether it takes its events, as daprd does.
func IsInput(md components.Metadata) bool {
	v, _ := md.Property("direction")
	for d := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(d), "input") {
			return true
		}
	}
	return false
}

// ReadsInput reports whether a component with metadata md may serve as an
// input binding: without direction, yes; with it, when it names input.
func ReadsInput(md components.Metadata) bool {
	if _, ok := md.Property("direction"); !ok {
		return true
	}
	return IsInput(md)
}

// Event is one event an input binding read.
type Event struct {
	Data     []byte
	Metadata map[string]string
}

// Handler takes one event for the app. It returns the app's answer; an
// error means the app did not take the event, which the binding hands
// back to its source to deliver again where the source can.
type Handler func(ctx context.Context, ev *Event) ([]byte, error)

// Input is an input binding.
type Input interface {
	components.Component
	// Read starts reading events into h and returns once reading has
	// started; reading goes on until ctx ends. Each call reads on its own
	// (a schedule of its own, a consumer of its own), so each replica of an
	// app reads as a daprd beside it would.
	Read(ctx context.Context, h Handler) error
}

// TTL reads a request's time to live as Dapr's bindings do: the ttl or
// ttlInSeconds metadata item, a duration (30s) or a whole number of
// seconds above zero.
func TTL(md map[string]string) (time.Duration, bool, error) {
	v := md["ttl"]
	if v == "" {
		v = md["ttlInSeconds"]
	}
	if v == "" {
		return 0, false, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return max(d, 0), true, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/int64(time.Second) {
		return 0, false, fmt.Errorf("ttlInSeconds %q: a whole number of seconds above zero, or a duration such as 30s", v)
	}
	return time.Duration(n) * time.Second, true, nil
}
