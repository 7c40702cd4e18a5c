// Package bindings is the bindings building block: one app's output
// bindings by name, daprd's checks of a call (the operation given and
// supported), resiliency, and Dapr's errors, for both API front ends; and
// its input bindings, read for each sidecar and delivered to its app
// (input.go).
//
// It imports the components registry, the bindings interface, daprerr and
// resiliency; it must not import the sidecar, the hosts or spec.
package bindings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/blocks/named"
	"github.com/cove-env/cove/internal/components"
	cbind "github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// Request and Response are the binding's types.
type (
	Request  = cbind.Request
	Response = cbind.Response
)

// CapabilityOutput is what the metadata API reports of an output binding.
const CapabilityOutput = "OUTPUT_BINDING"

// Options configure a Service beyond its app id.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Outbound returns the policy for calls to the named binding (nil for
	// none); it is asked once per binding, when the binding is added.
	Outbound func(name string) *resiliency.Policy
	// Inbound returns the policy for deliveries of the named input
	// binding's events to the app (nil for none), asked as Outbound is.
	Inbound func(name string) *resiliency.Policy
	// Namespace labels the metrics; "" is Dapr's "default".
	Namespace string
	// Metrics records each invocation; nil records nothing.
	Metrics Recorder
}

// Recorder records output binding invocations (*metrics.Sidecar does).
type Recorder interface {
	OutputBinding(namespace, component, operation string, success bool, elapsed time.Duration)
}

// Info describes one binding for the metadata API.
type Info struct {
	Name, Type, Version string
	Capabilities        []string
}

// Service is one app's output bindings. It is safe for concurrent use.
type Service struct {
	appID    string
	log      *slog.Logger
	outbound func(string) *resiliency.Policy
	inbound  func(string) *resiliency.Policy
	ns       string
	metrics  Recorder

	bindings named.Set[*entry]

	inMu   sync.Mutex
	inputs []*input
}

type entry struct {
	info   Info
	b      cbind.Output
	ops    []string
	policy *resiliency.Policy
}

// New returns a Service for appID with no bindings.
func New(appID string, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	return &Service{appID: appID, log: log.With("app", appID, "block", "bindings"), outbound: opts.Outbound, inbound: opts.Inbound, ns: ns, metrics: opts.Metrics}
}

// Add makes an initialised output binding available under md.Name, unless
// its direction metadata leaves output out, as daprd decides. The binding
// stays the caller's.
func (s *Service) Add(md components.Metadata, b cbind.Output) error {
	if md.Name == "" || b == nil {
		return fmt.Errorf("binding %q: a name and a binding are required", md.Name)
	}
	if !cbind.IsOutput(md) {
		s.log.Info("binding is not an output binding (its direction metadata leaves output out)", "binding", md.Name)
		return nil
	}
	e := &entry{info: Info{Name: md.Name, Type: md.Type, Version: md.Version, Capabilities: []string{CapabilityOutput}}, b: b, ops: b.Operations()}
	if s.outbound != nil {
		e.policy = s.outbound(md.Name)
	}
	if err := s.bindings.Add(md.Name, e); err != nil {
		return fmt.Errorf("binding %w", err)
	}
	return nil
}

// Bindings lists the bindings by name, with their capabilities: output,
// input or both.
func (s *Service) Bindings() []Info {
	out := named.Each(&s.bindings, func(e *entry) Info { return e.info })
	s.inMu.Lock()
	defer s.inMu.Unlock()
	for _, in := range s.inputs {
		i := slices.IndexFunc(out, func(b Info) bool { return b.Name == in.name })
		if i < 0 {
			out = append(out, Info{Name: in.name, Type: in.md.Type, Version: in.md.Version})
			i = len(out) - 1
		}
		out[i].Capabilities = append(slices.Clone(out[i].Capabilities), CapabilityInput)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Invoke runs one operation of the binding name. Like daprd, it answers
// the binding's response even with an error, so its metadata (an HTTP
// binding's status) reaches the caller.
func (s *Service) Invoke(ctx context.Context, name string, req *Request) (resp *Response, err error) {
	if s.metrics != nil {
		// Recorded for every call, a refused one included, as daprd does.
		start := time.Now()
		defer func() { s.metrics.OutputBinding(s.ns, name, req.Operation, err == nil, time.Since(start)) }()
	}
	fail := func(format string, args ...any) error {
		return daprerr.New(daprerr.InvokeOutputBinding, "error invoking output binding %s: "+format, append([]any{name}, args...)...)
	}
	if req.Operation == "" {
		return nil, fail("operation field is missing from request")
	}
	e, ok := s.bindings.Get(name)
	if !ok {
		return nil, fail("couldn't find output binding %s", name)
	}
	if !slices.Contains(e.ops, req.Operation) {
		// daprd's words, without the space it leaves out after the colon.
		return nil, fail("binding %s does not support operation %s. supported operations: %s", name, req.Operation, strings.Join(e.ops, " "))
	}
	resp, err = s.run(ctx, e, req)
	if err != nil {
		return resp, daprerr.Wrap(daprerr.InvokeOutputBinding, err, "error invoking output binding %s", name)
	}
	return resp, nil
}

// run calls the binding under its outbound policy; a refusal of the
// request (ErrInvalid) is its answer, not retried.
func (s *Service) run(ctx context.Context, e *entry, req *Request) (*Response, error) {
	type answer struct {
		resp *Response
		err  error
	}
	a, err := resiliency.Call(ctx, e.policy, func(ctx context.Context) (answer, error) {
		resp, err := e.b.Invoke(ctx, req)
		if err != nil && !errors.Is(err, cbind.ErrInvalid) {
			return answer{resp, err}, err
		}
		return answer{resp, err}, nil
	})
	if err != nil {
		return a.resp, err
	}
	return a.resp, a.err
}
