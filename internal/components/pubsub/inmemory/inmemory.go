// Package inmemory is the pubsub.in-memory broker: topics and consumer
// groups inside the broker instance, nothing written anywhere, so, as with
// Dapr's in-memory pub/sub, messages live only as long as the instance; it
// suits tests and development.
//
// A consumer group comes into being with its first subscription and from
// then on queues every message published to its topic, also while no
// subscriber is connected; messages published before any group exists are
// not kept. Each subscription handles one message at a time, so one
// subscriber sees its group's messages in publish order while none is
// retried; a retried message goes back to the head of its group's queue
// after a short pause.
//
// It imports only the components registry and the pub/sub interface; it
// must not import building blocks, the sidecar or the control plane.
package inmemory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/lifetime"
)

// Type is the component type this package registers.
const Type = "pubsub.in-memory"

// retryPause is how long a retried message waits before it is handed out
// again, so a handler that always answers Retry does not spin a core.
const retryPause = 100 * time.Millisecond

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ pubsub.PubSub = (*Bus)(nil)

// Bus is the in-memory broker. The zero value is not usable; call New.
type Bus struct {
	mu     sync.Mutex
	groups map[string]map[string]*group // topic → group name → group
	closed bool

	life *lifetime.Lifetime // subscriptions and retry timers
}

// group is one consumer group of a topic: a queue its subscriptions take
// from. Its fields are guarded by Bus.mu.
type group struct {
	queue []*pubsub.Message
	cond  *sync.Cond
}

// New returns a broker with no topics.
func New() *Bus {
	return &Bus{groups: map[string]map[string]*group{}, life: lifetime.New()}
}

// Init takes no metadata of its own; other keys are reported, not refused,
// as in Dapr.
func (b *Bus) Init(_ context.Context, md components.Metadata) error {
	var m pubsub.RuntimeMetadata
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	return err
}

// Features reports none: the broker has no TTL of its own, no wildcards and
// no native bulk publish.
func (b *Bus) Features() []pubsub.Feature { return nil }

// Publish queues the message for every group of its topic.
func (b *Bus) Publish(_ context.Context, req *pubsub.PublishRequest) error {
	if err := pubsub.CheckRequest(req.Topic, "", false); err != nil {
		return err
	}
	msg := &pubsub.Message{
		Topic:       req.Topic,
		Data:        slices.Clone(req.Data),
		ContentType: req.ContentType,
		Metadata:    maps.Clone(req.Metadata),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("publish to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	for _, g := range b.groups[req.Topic] {
		g.queue = append(g.queue, msg)
		g.cond.Signal()
	}
	return nil
}

// Subscribe joins req.Group on req.Topic, creating the group if it is new.
func (b *Bus) Subscribe(ctx context.Context, req pubsub.SubscribeRequest, h pubsub.Handler) error {
	if err := pubsub.CheckRequest(req.Topic, req.Group, true); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return fmt.Errorf("subscribe to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	groups := b.groups[req.Topic]
	if groups == nil {
		groups = map[string]*group{}
		b.groups[req.Topic] = groups
	}
	g := groups[req.Group]
	if g == nil {
		g = &group{cond: sync.NewCond(&b.mu)}
		groups[req.Group] = g
	}
	subCtx, release := b.life.Subscription(ctx)
	// Wake the group's waiters when this subscription ends, so its worker
	// sees that and leaves.
	wake := context.AfterFunc(subCtx, func() {
		b.mu.Lock()
		g.cond.Broadcast()
		b.mu.Unlock()
	})
	b.life.Go(func() {
		defer release()
		defer wake()
		b.work(subCtx, g, h)
	})
	return nil
}

// work hands g's messages to h one at a time until ctx ends.
func (b *Bus) work(ctx context.Context, g *group, h pubsub.Handler) {
	for {
		b.mu.Lock()
		for len(g.queue) == 0 && ctx.Err() == nil {
			g.cond.Wait()
		}
		if ctx.Err() != nil {
			b.mu.Unlock()
			return
		}
		msg := g.queue[0]
		g.queue[0] = nil
		g.queue = g.queue[1:]
		b.mu.Unlock()

		delivery := *msg
		delivery.Metadata = maps.Clone(msg.Metadata)
		switch res := h(ctx, &delivery); {
		case res == pubsub.Ack || res == pubsub.Drop:
		case ctx.Err() != nil:
			// The subscriber went away without handling it: another
			// subscriber of the group gets it now.
			b.requeue(g, msg)
			return
		default:
			b.life.Go(func() {
				t := time.NewTimer(retryPause)
				defer t.Stop()
				select {
				case <-t.C:
					b.requeue(g, msg)
				case <-b.life.Context().Done():
				}
			})
		}
	}
}

// requeue puts msg back at the head of g's queue.
func (b *Bus) requeue(g *group, msg *pubsub.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	g.queue = slices.Insert(g.queue, 0, msg)
	g.cond.Signal()
}

// Close ends every subscription and waits for running handlers.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.groups = map[string]map[string]*group{}
	b.mu.Unlock()
	b.life.End(nil)
	return nil
}
