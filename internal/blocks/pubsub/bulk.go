package pubsub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"github.com/google/uuid"

	cpubsub "github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/resiliency"
)

// Bulk is a subscription's bulkSubscribe settings: events are handed to
// the app in batches of up to MaxMessages, a batch going out when it is
// full or MaxAwait after its first event came.
type Bulk struct {
	MaxMessages int
	MaxAwait    time.Duration
}

// daprd's defaults for a bulkSubscribe that leaves a limit out.
const (
	defaultBulkMaxMessages = 100
	defaultBulkMaxAwait    = time.Second
)

// BulkEventType is the type of the envelope a batch travels in.
const BulkEventType = "com.dapr.event.sent.bulk"

// NewBulk returns the settings of a bulkSubscribe block, nil when it is
// not enabled; limits of zero or less take daprd's defaults.
func NewBulk(enabled bool, maxMessages, maxAwaitMs int) *Bulk {
	if !enabled {
		return nil
	}
	b := &Bulk{MaxMessages: maxMessages, MaxAwait: time.Duration(maxAwaitMs) * time.Millisecond}
	if b.MaxMessages <= 0 {
		b.MaxMessages = defaultBulkMaxMessages
	}
	if b.MaxAwait <= 0 {
		b.MaxAwait = defaultBulkMaxAwait
	}
	return b
}

// BulkEventEntry is one event of a batch.
type BulkEventEntry struct {
	EntryID string
	// Event is the CloudEvent's attributes when delivery decoded them
	// (nil: Data holds the event); for a raw-payload subscription Raw
	// holds the message as it came instead.
	Event map[string]any
	// Data is the event as JSON, as the message carried it (or re-encoded
	// where the sidecar changed it), so an HTTP batch is written without
	// encoding each event again; nil: encode Event.
	Data        []byte
	Raw         []byte
	ContentType string
	// Metadata is the broker's metadata of the message.
	Metadata map[string]string
}

// BulkDelivery is a batch of one subscription's events for one route.
type BulkDelivery struct {
	Pubsub, Topic, Path string
	Entries             []BulkEventEntry
	// Metadata is the batch's metadata (pubsubName), which HTTP apps
	// receive as headers.
	Metadata map[string]string
}

// BulkAppChannel is an AppChannel that takes batches as well.
type BulkAppChannel interface {
	AppChannel
	// DeliverBulk hands b to the app and returns its verdict per entry
	// id; an entry missing from the answer is retried. An error means
	// the app could not be asked or failed the whole batch (Retry).
	DeliverBulk(ctx context.Context, b *BulkDelivery) (map[string]Verdict, error)
}

// batcher gathers one bulk subscription's messages into batches.
type batcher struct {
	h    *handler
	ch   BulkAppChannel
	bulk *Bulk
	in   chan *pending
}

// pending is a message waiting for its batch's verdict.
type pending struct {
	msg  *cpubsub.Message
	done chan cpubsub.Result
}

func newBatcher(ctx context.Context, h *handler, ch BulkAppChannel, bulk *Bulk) *batcher {
	b := &batcher{h: h, ch: ch, bulk: bulk, in: make(chan *pending, bulk.MaxMessages)}
	h.wg.Add(1)
	go b.run(ctx)
	return b
}

// handle is the broker's handler: it queues msg for the next batch and
// waits for its verdict. A message the batch loop never took, because the
// subscription ended, goes back to the broker.
func (b *batcher) handle(ctx context.Context, msg *cpubsub.Message) cpubsub.Result {
	p := &pending{msg: msg, done: make(chan cpubsub.Result, 1)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return cpubsub.Retry
	}
	select {
	case r := <-p.done:
		return r
	case <-ctx.Done():
		return cpubsub.Retry
	}
}

// run sends a batch when it is full or MaxAwait after its first message,
// as daprd's default bulk subscriber does.
func (b *batcher) run(ctx context.Context) {
	defer b.h.wg.Done()
	timer := time.NewTimer(b.bulk.MaxAwait)
	timer.Stop()
	batch := make([]*pending, 0, b.bulk.MaxMessages)
	flush := func() {
		timer.Stop()
		if len(batch) > 0 {
			b.flush(ctx, batch)
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for _, p := range batch {
				p.done <- cpubsub.Retry
			}
			return
		case p := <-b.in:
			if len(batch) == 0 {
				timer.Reset(b.bulk.MaxAwait)
			}
			batch = append(batch, p)
		drain:
			for len(batch) < b.bulk.MaxMessages {
				select {
				case p := <-b.in:
					batch = append(batch, p)
				default:
					break drain
				}
			}
			if len(batch) >= b.bulk.MaxMessages {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// bulkTally counts a batch's entries by outcome, for the bulk ingress
// metrics.
type bulkTally struct {
	mu                   sync.Mutex
	success, retry, drop int
	elapsed              time.Duration
}

func (t *bulkTally) add(process string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch process {
	case ingressSuccess:
		t.success++
	case ingressDrop:
		t.drop++
	default:
		t.retry++
	}
}

// flush handles one batch as daprd's bulk handler does: events it cannot
// read, that expired or that no rule routes are settled one by one; the
// rest go to the app in one call per route, and each entry's verdict
// decides what happens to its message.
func (b *batcher) flush(ctx context.Context, batch []*pending) {
	h := b.h
	log := h.s.log.With("pubsub", h.sub.Pubsub, "topic", h.sub.Topic)
	results := make([]cpubsub.Result, len(batch))
	var tally bulkTally
	raw, rawErr := rawPayload(h.sub.Metadata)
	type routed struct {
		idx     []int
		entries []BulkEventEntry
	}
	byPath := map[string]*routed{}
	var paths []string
	for i, p := range batch {
		var in ingress
		d, err := h.delivery(p.msg)
		if err == nil {
			err = rawErr
		}
		if err != nil {
			log.Error("pub/sub event not delivered", "error", err)
			results[i] = h.failed(ctx, p.msg, &in)
			tally.add(in.process)
			continue
		}
		if expired(d.expiration(), h.s.now()) {
			log.Warn("expired pub/sub event dropped", "id", d.id(), "expiration", d.expiration())
			results[i] = h.deadLetterOr(ctx, p.msg, cpubsub.Ack)
			tally.add(ingressDrop)
			continue
		}
		path, ok, err := h.sub.route(d)
		if err != nil {
			log.Error("pub/sub event not routed", "id", d.id(), "error", err)
			results[i] = h.failed(ctx, p.msg, &in)
			tally.add(in.process)
			continue
		}
		if !ok {
			log.Debug("pub/sub event matches no route; skipped", "id", d.id())
			results[i] = h.deadLetterOr(ctx, p.msg, cpubsub.Ack)
			tally.add(ingressDrop)
			continue
		}
		e := BulkEventEntry{EntryID: uuid.NewString(), Event: d.Event, Data: d.Data, ContentType: p.msg.ContentType, Metadata: p.msg.Metadata}
		if raw {
			e.Raw = p.msg.Data
			if e.ContentType == "" {
				e.ContentType = contentTypeBinary
			}
		} else if e.ContentType == "" {
			e.ContentType = ContentTypeCloudEvent
		}
		r := byPath[path]
		if r == nil {
			r = &routed{}
			byPath[path] = r
			paths = append(paths, path)
		}
		r.idx = append(r.idx, i)
		r.entries = append(r.entries, e)
	}
	for _, path := range paths {
		r := byPath[path]
		start := time.Now()
		verdicts := b.deliver(ctx, &BulkDelivery{
			Pubsub: h.sub.Pubsub, Topic: h.sub.Topic, Path: path, Entries: r.entries,
			Metadata: map[string]string{metadataPubsub: h.sub.Pubsub},
		})
		tally.elapsed += time.Since(start)
		for j, i := range r.idx {
			var in ingress
			results[i] = h.settle(ctx, batch[i].msg, verdicts[r.entries[j].EntryID], nil, &in)
			tally.add(in.process)
		}
	}
	for i, p := range batch {
		p.done <- results[i]
	}
	if m, ok := h.s.metrics.(BulkRecorder); ok && ctx.Err() == nil {
		m.BulkPubsubIngress(h.s.metricsNamespace(), h.sub.Pubsub, h.sub.Topic, tally.elapsed,
			map[string]int{ingressSuccess: tally.success, ingressRetry: tally.retry, ingressDrop: tally.drop})
	}
}

// BulkRecorder records daprd's bulk pub/sub metrics (*metrics.Sidecar
// does): a bulk publish, and a batch handed to the app (with how long the
// app took) with its entries by outcome.
type BulkRecorder interface {
	BulkPubsubEgress(namespace, component, topic string, success bool, elapsed time.Duration)
	BulkPubsubIngress(namespace, component, topic string, elapsed time.Duration, entries map[string]int)
}

// deliver asks the app about the batch under the component's inbound
// policy, as daprd's bulk resiliency does: each attempt carries only the
// entries no earlier attempt settled, and an attempt with entries left to
// retry fails. Entries still unsettled at the end are retried.
func (b *batcher) deliver(ctx context.Context, d *BulkDelivery) map[string]Verdict {
	settled := make(map[string]Verdict, len(d.Entries))
	left := d.Entries
	attempt := func(ctx context.Context) (struct{}, error) {
		req := *d
		req.Entries = left
		verdicts, err := b.ch.DeliverBulk(ctx, &req)
		if err != nil {
			b.h.s.log.Warn("pub/sub events not delivered; the broker delivers them again",
				"pubsub", d.Pubsub, "topic", d.Topic, "events", len(left), "error", err)
			return struct{}{}, err
		}
		var next []BulkEventEntry
		for _, e := range left {
			v, ok := verdicts[e.EntryID]
			if ok && v != Retry {
				settled[e.EntryID] = v
				continue
			}
			next = append(next, e)
		}
		left = next
		if len(left) > 0 {
			return struct{}{}, errRetry
		}
		return struct{}{}, nil
	}
	if b.h.e.inbound == nil {
		_, _ = attempt(ctx)
	} else {
		_, _ = resiliency.Run(ctx, b.h.e.inbound, attempt, resiliency.RunOptions[struct{}]{})
	}
	for _, e := range left {
		settled[e.EntryID] = Retry
	}
	return settled
}

// appendEvent appends an entry's event as an HTTP app receives it: the
// CloudEvent, or a raw payload as a base64 string.
func (e *BulkEventEntry) appendEvent(buf []byte) ([]byte, error) {
	switch {
	case e.Raw != nil:
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, e.Raw)
		return append(buf, '"'), nil
	case e.Data != nil:
		// Valid JSON: delivery checked it.
		return append(buf, e.Data...), nil
	}
	data, err := json.Marshal(e.Event)
	return append(buf, data...), err
}
