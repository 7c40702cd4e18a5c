// Package cron is the bindings.cron input binding, as Dapr's: an event
// with no data each time its schedule fires. The schedule is Dapr's
// syntax, parsed by the parser daprd uses: six fields with seconds, the
// five-field form, descriptors such as @daily and @every 15s.
package cron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kitcron "github.com/dapr/kit/cron"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
)

// Type is the component type this package registers.
const Type = "bindings.cron"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }, Check: Check})
}

var _ bindings.Input = (*Binding)(nil)

var parser = kitcron.NewParser(kitcron.SecondOptional | kitcron.Minute | kitcron.Hour | kitcron.Dom |
	kitcron.Month | kitcron.Dow | kitcron.Descriptor)

// Binding is the cron input binding.
type Binding struct {
	name, schedule string

	mu      sync.Mutex
	closed  bool
	readers sync.WaitGroup
	stop    chan struct{}
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{stop: make(chan struct{})} }

type metadata struct {
	Schedule string `metadata:"schedule"`
	bindings.RuntimeMetadata
}

// Check reports a schedule that will not parse, before anything runs
// (cove validate).
func Check(props map[string]string) error {
	s, ok := props["schedule"]
	if !ok {
		return nil // Init names it missing
	}
	if _, err := parser.Parse(s); err != nil {
		return &components.MetadataError{Item: "schedule", Err: scheduleError(s, err)}
	}
	return nil
}

func scheduleError(s string, err error) error {
	return fmt.Errorf("invalid schedule %q: %v; write six fields with seconds (\"*/15 * * * * *\"), five without, or a descriptor (@every 15s, @hourly, @daily)", s, err)
}

// Init reads the schedule.
func (b *Binding) Init(_ context.Context, md components.Metadata) error {
	var m metadata
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if m.Schedule == "" {
		return fmt.Errorf("%s %q: the schedule metadata item is required, e.g. @every 15s", Type, md.Name)
	}
	if _, err := parser.Parse(m.Schedule); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, scheduleError(m.Schedule, err))
	}
	b.name, b.schedule = md.Name, m.Schedule
	return nil
}

// Read runs a schedule of its own until ctx ends or the binding closes;
// each firing hands h an event with the time zone and the time read, as
// Dapr's. An app's failure is not retried: the next firing comes anyway.
func (b *Binding) Read(ctx context.Context, h bindings.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("binding is closed")
	}
	c := kitcron.New(kitcron.WithParser(parser))
	if _, err := c.AddFunc(b.schedule, func() {
		_, _ = h(ctx, &bindings.Event{Metadata: map[string]string{
			"timeZone":    c.Location().String(),
			"readTimeUTC": time.Now().UTC().String(),
		}})
	}); err != nil {
		return fmt.Errorf("%s %q: schedule %s: %w", Type, b.name, b.schedule, err)
	}
	c.Start()
	b.readers.Add(1)
	go func() {
		defer b.readers.Done()
		select {
		case <-ctx.Done():
		case <-b.stop:
		}
		<-c.Stop().Done() // firings in progress end first
	}()
	return nil
}

// Close stops every schedule.
func (b *Binding) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.readers.Wait()
	return nil
}
