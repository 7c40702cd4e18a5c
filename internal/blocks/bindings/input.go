package bindings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cove-env/cove/internal/components"
	cbind "github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/resiliency"
)

// CapabilityInput is what the metadata API reports of an input binding.
const CapabilityInput = "INPUT_BINDING"

// ProbeTimeout bounds the question whether the app takes a binding's
// events (daprd's default app binding options timeout).
const ProbeTimeout = 3 * time.Second

// Event is one input binding event on its way to the app.
type Event struct {
	// Binding is the binding's name; Route the path an HTTP app gets it
	// at: the binding's route metadata, or its name.
	Binding, Route string
	Data           []byte
	Metadata       map[string]string
}

// Answer is the app's answer to an event. A gRPC app may name output
// bindings the answer's data goes to (To), one after another or, when
// Parallel, all at once; daprd 1.18 reads no such list from HTTP apps.
type Answer struct {
	Data     []byte
	To       []string
	Parallel bool
}

// AppChannel is the way to the app behind one sidecar.
type AppChannel interface {
	// Takes asks the app whether it takes the events of the binding named
	// name, delivered at route: daprd's probe.
	Takes(ctx context.Context, name, route string) (bool, error)
	// Deliver hands ev to the app; an error means the app did not take it.
	Deliver(ctx context.Context, ev *Event) (*Answer, error)
}

// input is one input binding of the app.
type input struct {
	name, route string
	md          components.Metadata
	explicit    bool // its direction metadata names input: no probe
	in          cbind.Input
	inbound     *resiliency.Policy
}

// AddInput makes an initialised input binding readable under md.Name,
// unless its direction metadata leaves input out, as daprd decides. The
// binding stays the caller's.
func (s *Service) AddInput(md components.Metadata, in cbind.Input) error {
	if md.Name == "" || in == nil {
		return fmt.Errorf("binding %q: a name and a binding are required", md.Name)
	}
	if !cbind.ReadsInput(md) {
		return nil
	}
	route, _ := md.Property("route")
	if route == "" {
		route = md.Name
	}
	e := &input{name: md.Name, route: route, md: md, explicit: cbind.IsInput(md), in: in}
	if s.inbound != nil {
		e.inbound = s.inbound(md.Name)
	}
	s.inMu.Lock()
	defer s.inMu.Unlock()
	for _, o := range s.inputs {
		if o.name == md.Name {
			return fmt.Errorf("binding %s is added twice", md.Name)
		}
	}
	s.inputs = append(s.inputs, e)
	return nil
}

// HasInputs tells whether any input binding was added.
func (s *Service) HasInputs() bool {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	return len(s.inputs) > 0
}

// Reader is the input bindings one sidecar reads for its app.
type Reader struct {
	ctx    context.Context // ends when reading ends
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup // events in the app's hands
	names  []string
}

// Names lists the bindings being read.
func (r *Reader) Names() []string {
	if r == nil {
		return nil
	}
	return r.names
}

// StopWait bounds how long Stop waits for the events the app has before
// it cancels them: an event held for an unhealthy app would otherwise hold
// Stop up for as long as the app stays so.
const StopWait = 5 * time.Second

// Stop takes no more events, waits (at most StopWait) for those the app
// has, then ends the reading; an event refused or cancelled meanwhile goes
// back to its source.
func (r *Reader) Stop() {
	if r == nil {
		return
	}
	r.closed.Store(true)
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(StopWait):
	}
	r.cancel()
	<-done
}

var errStopped = errors.New("input binding is closed")

// Read starts reading the input bindings the app takes into ch: those
// whose direction names input, and those the app says it takes when asked
// (ch.Takes). A binding the app could not be asked about, or that fails to
// start reading, is logged and left out; the others go on.
func (s *Service) Read(ctx context.Context, ch AppChannel) (*Reader, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Reader{ctx: ctx, cancel: cancel}
	s.inMu.Lock()
	inputs := append([]*input(nil), s.inputs...)
	s.inMu.Unlock()
	for _, e := range inputs {
		if !e.explicit {
			pctx, pcancel := context.WithTimeout(ctx, ProbeTimeout)
			ok, err := ch.Takes(pctx, e.name, e.route)
			pcancel()
			if err != nil {
				s.log.Warn("input binding not read: the app could not be asked whether it takes its events", "binding", e.name, "error", err)
				continue
			}
			if !ok {
				s.log.Info("app has not subscribed to binding", "binding", e.name)
				continue
			}
		}
		if err := e.in.Read(ctx, s.handler(r, e, ch)); err != nil {
			s.log.Error("input binding not read", "binding", e.name, "error", err)
			continue
		}
		r.names = append(r.names, e.name)
	}
	return r, nil
}

// handler delivers one binding's events to the app under its inbound
// policy, and sends on a gRPC app's answer to the output bindings it names.
func (s *Service) handler(r *Reader, e *input, ch AppChannel) cbind.Handler {
	return func(ctx context.Context, ev *cbind.Event) ([]byte, error) {
		r.wg.Add(1)
		defer r.wg.Done()
		if r.closed.Load() {
			return nil, errStopped
		}
		// The delivery ends with the reading, whatever context the
		// source gave.
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		defer context.AfterFunc(r.ctx, stop)()
		start := time.Now()
		d := &Event{Binding: e.name, Route: e.route, Data: ev.Data, Metadata: ev.Metadata}
		ans, err := resiliency.Call(ctx, e.inbound, func(ctx context.Context) (*Answer, error) {
			return ch.Deliver(ctx, d)
		})
		if s.metrics != nil {
			if m, ok := s.metrics.(InputRecorder); ok {
				m.InputBinding(s.ns, e.name, err == nil, time.Since(start))
			}
		}
		if err != nil {
			s.log.Debug("input binding event not taken by the app", "binding", e.name, "error", err)
			return nil, err
		}
		if ans == nil {
			return nil, nil
		}
		if len(ans.To) > 0 {
			s.sendOn(ctx, e.name, ans)
		}
		return ans.Data, nil
	}
}

// InputRecorder records input binding events (*metrics.Sidecar does).
type InputRecorder interface {
	InputBinding(namespace, component string, success bool, elapsed time.Duration)
}

// sendOn creates the answer's data, as JSON, in each output binding it
// names, as daprd does with a gRPC app's answer; failures are logged.
func (s *Service) sendOn(ctx context.Context, from string, ans *Answer) {
	var v any
	if err := json.Unmarshal(ans.Data, &v); err != nil {
		v = nil // daprd sends null for data that is not JSON
	}
	data, _ := json.Marshal(v)
	send := func(to string) error {
		_, err := s.Invoke(ctx, to, &Request{Operation: cbind.OperationCreate, Data: data})
		return err
	}
	if !ans.Parallel {
		for _, to := range ans.To {
			if err := send(to); err != nil {
				s.log.Error("app's answer to an input binding event not sent on", "binding", from, "to", to, "error", err)
				return
			}
		}
		return
	}
	var wg sync.WaitGroup
	for _, to := range ans.To {
		wg.Go(func() {
			if err := send(to); err != nil {
				s.log.Error("app's answer to an input binding event not sent on", "binding", from, "to", to, "error", err)
			}
		})
	}
	wg.Wait()
}
