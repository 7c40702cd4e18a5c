// Package redis is the pubsub.redis broker on Redis Streams, in Dapr's
// layout so daprd and cove share streams: a topic is a stream, each message
// an entry with a "data" field (the body) and a "metadata" field (the
// publish metadata as JSON); cove adds a "contentType" field daprd ignores.
// A consumer group is a stream consumer group created at the stream's
// start ("0") and read with XREADGROUP under the group's name as consumer,
// as daprd does.
//
// Acked and dropped messages are XACKed. A message answered Retry, or left
// unanswered by a subscriber that went away, stays pending; every
// redeliverInterval each subscription claims the group's entries pending
// longer than processingTimeout and handles them again. (daprd acks a
// message its app failed after the building block's retries; cove keeps
// the promise of the interface: Retry redelivers.) A redeliverInterval or
// processingTimeout of 0 turns redelivery off, as in Dapr.
//
// Each subscription reads up to queueDepth entries at a time and handles
// them with concurrency workers (10 by default, as in Dapr): with
// concurrency 1, a lone subscriber sees the messages in stream order while
// none is retried. A subscription whose handler batches (Batch) gets at
// least Batch workers, so a batch can fill. Settled entries are XACKed by one acker per
// subscription, together with those settled while its previous XACK was on
// its way, so under load one round trip settles many.
//
// It needs Redis 6.2 or later (XAUTOCLAIM). It imports only the components
// registry, the shared Redis connection package (metadata, client,
// batcher) and the pub/sub interface.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/lifetime"
	"github.com/cove-env/cove/internal/components/redisconn"
)

// Type is the component type this package registers.
const Type = "pubsub.redis"

// maxReaders bounds the readers' pool: one connection per subscription,
// opened as subscriptions start.
const maxReaders = 10000

// readBlock is how long one XREADGROUP waits for new entries; it bounds
// how long a subscription takes to notice its end.
const readBlock = time.Second

// publishTimeout bounds one batch of XADDs; a publish whose context ends
// first returns then.
const publishTimeout = 10 * time.Second

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ pubsub.PubSub = (*Broker)(nil)

// metadata is the component's metadata as Dapr's Redis pub/sub names it.
type metadata struct {
	pubsub.RuntimeMetadata
	redisconn.Metadata

	ProcessingTimeout redisconn.MsDuration `metadata:"processingTimeout"`
	RedeliverInterval redisconn.MsDuration `metadata:"redeliverInterval"`
	QueueDepth        uint                 `metadata:"queueDepth"`
	Concurrency       uint                 `metadata:"concurrency"`
	MaxLenApprox      int64                `metadata:"maxLenApprox"`
	StreamTTL         time.Duration        `metadata:"streamTTL"`
}

// Broker is the Redis Streams broker. The zero value is not usable; call
// New.
type Broker struct {
	md     metadata
	conn   redisconn.Settings
	client goredis.UniversalClient
	// readers serves the subscriptions' blocking XREADGROUPs, each of
	// which holds a connection while it waits, so they never take the
	// connections of publishes and acknowledgements, however many
	// subscriptions one broker serves.
	readers goredis.UniversalClient
	// publish sends the XADDs of concurrent publishes as one pipeline.
	publish *redisconn.Batcher
	log     *slog.Logger

	life     *lifetime.Lifetime
	closeErr error
}

// New returns an uninitialised broker.
func New() *Broker {
	return &Broker{life: lifetime.New(), log: slog.Default()}
}

// Init reads the metadata and checks that Redis answers.
func (b *Broker) Init(ctx context.Context, md components.Metadata) error {
	b.log = slog.Default().With("component", md.Name, "type", Type)
	m := metadata{
		Metadata:          redisconn.Defaults(),
		ProcessingTimeout: redisconn.MsDuration(60 * time.Second),
		RedeliverInterval: redisconn.MsDuration(15 * time.Second),
		QueueDepth:        100,
		Concurrency:       10,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	conn, connErr := m.Metadata.Check()
	errs := []error{err, connErr}
	if m.QueueDepth == 0 {
		errs = append(errs, errors.New("metadata queueDepth: must be at least 1"))
	}
	if m.Concurrency == 0 {
		errs = append(errs, errors.New("metadata concurrency: must be at least 1"))
	}
	if m.MaxLenApprox < 0 || m.StreamTTL < 0 {
		errs = append(errs, errors.New("metadata maxLenApprox and streamTTL: must not be negative"))
	}
	if m.MaxLenApprox > 0 && m.StreamTTL > 0 {
		errs = append(errs, errors.New("metadata maxLenApprox and streamTTL: set one of them; a stream is trimmed one way"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	client, err := conn.Connect(ctx)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	rc := conn
	rc.MD.PoolSize = maxReaders
	readers, err := rc.NewClient()
	if err != nil {
		_ = client.Close()
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.md, b.conn, b.client, b.readers = m, conn, client, readers
	b.publish = redisconn.NewBatcher(client, publishTimeout)
	return nil
}

// Features reports none, as Dapr's Redis pub/sub.
func (b *Broker) Features() []pubsub.Feature { return nil }

// Publish adds the message to the topic's stream; XADD answers once Redis
// has it. Concurrent publishes share a pipeline (redisconn.Batcher): with
// many publishers, one write and one read carry many XADDs.
func (b *Broker) Publish(ctx context.Context, req *pubsub.PublishRequest) error {
	if err := pubsub.CheckRequest(req.Topic, "", false); err != nil {
		return err
	}
	if b.life.Ended() || b.client == nil {
		return fmt.Errorf("publish to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	// XADD stream [MAXLEN|MINID ~ n] * data ... [metadata ...] [contentType ...]
	args := make([]any, 0, 12)
	args = append(args, "xadd", req.Topic)
	switch {
	case b.md.MaxLenApprox > 0:
		args = append(args, "maxlen", "~", b.md.MaxLenApprox)
	case b.md.StreamTTL > 0:
		args = append(args, "minid", "~", fmt.Sprintf("%d-1", time.Now().Add(-b.md.StreamTTL).UnixMilli()))
	}
	args = append(args, "*", "data", req.Data)
	if req.Metadata != nil {
		md, err := json.Marshal(req.Metadata)
		if err != nil {
			return fmt.Errorf("%w: metadata: %v", pubsub.ErrInvalidRequest, err)
		}
		args = append(args, "metadata", md)
	}
	if req.ContentType != "" {
		args = append(args, "contentType", req.ContentType)
	}
	if err := b.publish.Do(ctx, goredis.NewStringCmd(ctx, args...)); err != nil {
		return fmt.Errorf("publish to stream %q on Redis at %s: %w", req.Topic, b.conn.Addr(), err)
	}
	return nil
}

// Subscribe creates the group if it does not exist and starts the
// subscription's reader, reclaimer and workers.
func (b *Broker) Subscribe(ctx context.Context, req pubsub.SubscribeRequest, h pubsub.Handler) error {
	if err := pubsub.CheckRequest(req.Topic, req.Group, true); err != nil {
		return err
	}
	if b.life.Ended() || b.client == nil {
		return fmt.Errorf("subscribe to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	if err := b.createGroup(ctx, req.Topic, req.Group); err != nil {
		return err
	}
	subCtx, release := b.life.Subscription(ctx)
	s := &subscription{
		b: b, topic: req.Topic, group: req.Group, h: h,
		queue: make(chan goredis.XMessage, b.md.QueueDepth), acks: make(chan string, b.md.QueueDepth),
	}
	// A batching handler holds its messages until the batch goes: with
	// fewer workers than the batch holds, every batch would wait out its
	// time with the rest of the read still queued.
	n := max(int(b.md.Concurrency), req.Batch)
	var workers sync.WaitGroup
	workers.Add(2 + n)
	go func() { defer workers.Done(); s.read(subCtx) }()
	go func() { defer workers.Done(); s.reclaim(subCtx) }()
	for range n {
		go func() { defer workers.Done(); s.work(subCtx) }()
	}
	acked := make(chan struct{})
	go func() { defer close(acked); s.acker() }()
	b.life.Go(func() {
		workers.Wait()
		close(s.acks) // the workers are done: the acker settles the rest and ends
		<-acked
		release()
	})
	return nil
}

func (b *Broker) createGroup(ctx context.Context, topic, group string) error {
	err := b.client.XGroupCreateMkStream(ctx, topic, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %q on stream %q on Redis at %s: %w", group, topic, b.conn.Addr(), err)
	}
	return nil
}

// Close ends every subscription, waits for running handlers and closes
// the connection.
func (b *Broker) Close() error {
	b.life.End(func() {
		if b.client != nil {
			b.publish.Close()
			b.closeErr = errors.Join(b.client.Close(), b.readers.Close())
		}
	})
	return b.closeErr
}

// subscription is one Subscribe's state.
type subscription struct {
	b            *Broker
	topic, group string
	h            pubsub.Handler
	queue        chan goredis.XMessage
	acks         chan string // settled entries' ids, for the acker; closed when the workers end
}

// read hands the group's new entries to the workers until ctx ends.
func (s *subscription) read(ctx context.Context) {
	b := s.b
	for ctx.Err() == nil {
		res, err := b.readers.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: s.group, Consumer: s.group, Streams: []string{s.topic, ">"},
			Count: int64(b.md.QueueDepth), Block: readBlock,
		}).Result()
		if err != nil {
			if errors.Is(err, goredis.Nil) || ctx.Err() != nil {
				continue
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// The stream or the group was deleted under us: start over.
				b.log.Warn("consumer group gone; recreating it", "topic", s.topic, "group", s.group)
				if err := b.createGroup(ctx, s.topic, s.group); err == nil {
					continue
				}
			}
			b.log.Warn("reading stream failed", "topic", s.topic, "group", s.group, "err", err)
			lifetime.Sleep(ctx, time.Second)
			continue
		}
		for _, st := range res {
			s.enqueue(ctx, st.Messages)
		}
	}
}

func (s *subscription) enqueue(ctx context.Context, msgs []goredis.XMessage) {
	for _, m := range msgs {
		select {
		case s.queue <- m:
		case <-ctx.Done():
			return
		}
	}
}

// reclaim claims, every redeliverInterval, the group's entries pending for
// longer than processingTimeout: retried ones and those of subscribers that
// went away.
func (s *subscription) reclaim(ctx context.Context) {
	b := s.b
	every, idle := time.Duration(b.md.RedeliverInterval), time.Duration(b.md.ProcessingTimeout)
	if every <= 0 || idle <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := "0-0"
		for ctx.Err() == nil {
			msgs, next, err := b.client.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
				Stream: s.topic, Group: s.group, Consumer: s.group, MinIdle: idle, Start: start,
				Count: int64(b.md.QueueDepth),
			}).Result()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, goredis.Nil) {
					b.log.Warn("claiming pending entries failed", "topic", s.topic, "group", s.group, "err", err)
				}
				break
			}
			s.enqueue(ctx, msgs)
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
	}
}

// work handles queued entries until ctx ends.
func (s *subscription) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.queue:
			s.handle(ctx, m)
		}
	}
}

func (s *subscription) handle(ctx context.Context, m goredis.XMessage) {
	b := s.b
	if m.Values == nil {
		// Redis 6.2 claims an entry trimmed or deleted while pending as an
		// empty one (7.0 drops it from the pending list itself): there is
		// nothing to deliver, so settle it.
		s.acks <- m.ID
		return
	}
	msg := &pubsub.Message{Topic: s.topic}
	switch v := m.Values["data"].(type) {
	case string:
		msg.Data = []byte(v)
	case []byte:
		msg.Data = v
	}
	if v, ok := m.Values["metadata"].(string); ok && v != "" {
		if err := json.Unmarshal([]byte(v), &msg.Metadata); err != nil {
			b.log.Warn("entry metadata is not a JSON object; delivered without it", "topic", s.topic, "id", m.ID, "err", err)
		}
	}
	if v, ok := m.Values["contentType"].(string); ok {
		msg.ContentType = v
	}
	if s.h(ctx, msg) == pubsub.Retry {
		return // stays pending; reclaim hands it out again
	}
	// Ack and Drop both settle the entry, also when the subscription has
	// just ended: the handler did answer.
	s.acks <- m.ID
}

// acker XACKs settled entries until acks is closed and drained: each XACK
// carries every id that arrived while the previous one was on its way (up
// to queueDepth), so a lone entry is acknowledged at once and a busy
// subscription makes one round trip for many. An entry whose XACK is lost
// stays pending and is delivered again, as at-least-once allows.
func (s *subscription) acker() {
	ids := make([]string, 0, s.b.md.QueueDepth)
	for id := range s.acks {
		ids = append(ids[:0], id)
	more:
		for len(ids) < cap(ids) {
			select {
			case id, ok := <-s.acks:
				if !ok {
					break more
				}
				ids = append(ids, id)
			default:
				break more
			}
		}
		s.ack(ids)
	}
}

func (s *subscription) ack(ids []string) {
	// Not the subscription's context: a handled entry is settled also
	// when the subscription has just ended.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.b.client.XAck(ctx, s.topic, s.group, ids...).Err(); err != nil {
		s.b.log.Warn("acknowledging entries failed; they will be delivered again", "topic", s.topic, "entries", len(ids), "err", err)
	}
}
