// Package conformance is the one test suite every pub/sub broker passes:
// publish and delivery, order where the broker promises it, redelivery
// after Retry and after a subscriber goes away without answering, Drop,
// competing subscribers of one group, fan-out to two groups, bulk publish,
// metadata round trips, publishing to a broker that went down, and Close.
// A broker's test calls Run with a constructor and Options for its
// documented behaviour; topics and groups carry a random run id, so brokers
// backed by a shared server run it without touching other data, and the
// Cleanup option removes what a case created.
//
// It imports the pub/sub interface and the testing packages only; it must
// not import any broker implementation.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/pubsub"
)

// Option adjusts the suite to a broker's documented behaviour.
type Option func(*config)

type config struct {
	ordered      bool
	metadata     bool
	redelivery   time.Duration
	cleanup      func(t testing.TB, topic string, groups []string)
	downBroker   func(t *testing.T, addr string) pubsub.PubSub
	downUpstream string
	skip         map[string]string
	single       bool
	parallel     bool
	batches      bool
}

// SingleInstance is for brokers whose instances share nothing (in-memory):
// the cases that model two processes use one broker instead, and a
// subscriber that goes away is a subscription whose context ended.
func SingleInstance() Option { return func(c *config) { c.single = true } }

// Ordered is for brokers that deliver a topic's messages to a lone
// subscriber in publish order.
func Ordered() Option { return func(c *config) { c.ordered = true } }

// Parallel is for brokers configured to hand a subscription its next
// message while the handler of an earlier one is still running.
func Parallel() Option { return func(c *config) { c.parallel = true } }

// Batches is for brokers that let a subscription's Batch handler calls
// run at once, whatever their concurrency setting.
func Batches() Option { return func(c *config) { c.batches = true } }

// MetadataRoundTrip is for brokers that carry publish metadata to the
// subscriber (as headers or user properties).
func MetadataRoundTrip() Option { return func(c *config) { c.metadata = true } }

// RedeliveryWithin bounds how long the suite waits for a message to come
// back after Retry or after its subscriber went away (the broker's
// redelivery interval or processing timeout, plus slack). Default 10s.
func RedeliveryWithin(d time.Duration) Option { return func(c *config) { c.redelivery = d } }

// Cleanup removes what a case created on the server: its topic and the
// consumer groups it subscribed with.
func Cleanup(f func(t testing.TB, topic string, groups []string)) Option {
	return func(c *config) { c.cleanup = f }
}

// Down runs the broker-down and resume cases: newBroker builds an initialised broker
// that reaches the server at addr, a proxy the suite puts in front of
// upstream (the real server's host:port) and later stops, so the broker
// sees its server go away.
func Down(upstream string, newBroker func(t *testing.T, addr string) pubsub.PubSub) Option {
	return func(c *config) { c.downUpstream, c.downBroker = upstream, newBroker }
}

// Skip skips the named case, saying why (a behaviour the broker documents
// it does not have).
func Skip(name, reason string) Option {
	return func(c *config) {
		if c.skip == nil {
			c.skip = map[string]string{}
		}
		c.skip[name] = reason
	}
}

// Run runs the suite against fresh brokers from newBroker, which returns an
// initialised broker and registers its Close with t.Cleanup. Some cases
// use two brokers, as two processes would.
func Run(t *testing.T, newBroker func(t *testing.T) pubsub.PubSub, opts ...Option) {
	t.Helper()
	cfg := config{redelivery: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	runID := randomHex(6)
	cases := []struct {
		name string
		run  func(*fixture)
	}{
		{"publish and deliver", testPublishDeliver},
		{"order", testOrder},
		{"parallel handling", testParallel},
		{"a batch fills", testBatch},
		{"retry redelivers", testRetry},
		{"subscriber gone redelivers", testSubscriberGone},
		{"drop", testDrop},
		{"competing subscribers", testCompeting},
		{"fan out to groups", testFanOut},
		{"bulk publish", testBulkPublish},
		{"metadata round trip", testMetadata},
		{"invalid requests", testInvalid},
		{"broker down", testDown},
		{"subscription resumes after the connection drops", testResume},
		{"close ends subscriptions", testClose},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := cfg.skip[c.name]; ok {
				t.Skip(why)
			}
			f := &fixture{
				t:         t,
				cfg:       cfg,
				newBroker: newBroker,
				topic:     fmt.Sprintf("conformance-%s-%02d", runID, i),
				groupBase: fmt.Sprintf("conformance-%s-%02d-g", runID, i),
			}
			// Registered before any broker's Close, so it runs after them.
			t.Cleanup(f.cleanup)
			c.run(f)
		})
	}
}

// fixture is one case's topic and the groups it used.
type fixture struct {
	t         *testing.T
	cfg       config
	newBroker func(t *testing.T) pubsub.PubSub
	topic     string
	groupBase string

	mu     sync.Mutex
	groups []string
}

func (f *fixture) group(n int) string {
	g := f.groupBase + strconv.Itoa(n)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.groups, g) {
		f.groups = append(f.groups, g)
	}
	return g
}

func (f *fixture) cleanup() {
	if f.cfg.cleanup != nil {
		f.cfg.cleanup(f.t, f.topic, f.groups)
	}
}

// received collects delivered messages.
type received struct {
	mu   sync.Mutex
	msgs []*pubsub.Message
	ch   chan struct{}
}

func newReceived() *received { return &received{ch: make(chan struct{}, 1)} }

func (r *received) add(m *pubsub.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

// handler acks every message after recording it.
func (r *received) handler(_ context.Context, m *pubsub.Message) pubsub.Result {
	r.add(m)
	return pubsub.Ack
}

func (r *received) snapshot() []*pubsub.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *received) bodies() []string {
	var out []string
	for _, m := range r.snapshot() {
		out = append(out, string(m.Data))
	}
	return out
}

// waitFor waits until cond holds over the received messages, failing the
// test after d.
func (r *received) waitFor(t testing.TB, d time.Duration, what string, cond func([]*pubsub.Message) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if cond(r.snapshot()) {
			return
		}
		select {
		case <-r.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("after %v: %s; received %q", d, what, r.bodies())
		}
	}
}

// waitBodies waits until every one of want was received at least once.
func (r *received) waitBodies(t testing.TB, d time.Duration, want []string) {
	t.Helper()
	r.waitFor(t, d, fmt.Sprintf("want every one of %q", want), func([]*pubsub.Message) bool {
		got := r.bodies()
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
}

// deliveryWait bounds a first delivery.
const deliveryWait = 10 * time.Second

func (f *fixture) subscribe(ps pubsub.PubSub, ctx context.Context, group string, h pubsub.Handler) {
	f.t.Helper()
	err := ps.Subscribe(ctx, pubsub.SubscribeRequest{Topic: f.topic, Group: group}, h)
	if err != nil {
		f.t.Fatalf("subscribe %s/%s: %v", f.topic, group, err)
	}
}

func (f *fixture) publish(ps pubsub.PubSub, bodies ...string) {
	f.t.Helper()
	for _, b := range bodies {
		err := ps.Publish(f.t.Context(), &pubsub.PublishRequest{Topic: f.topic, Data: []byte(b), ContentType: "text/plain"})
		if err != nil {
			f.t.Fatalf("publish %q to %s: %v", b, f.topic, err)
		}
	}
}

// subscribed returns a new broker with a subscription of group 1 that
// acks and records every message.
func (f *fixture) subscribed() (pubsub.PubSub, *received) {
	ps := f.newBroker(f.t)
	r := newReceived()
	f.subscribe(ps, f.t.Context(), f.group(1), r.handler)
	return ps, r
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

func testPublishDeliver(f *fixture) {
	ps, r := f.subscribed()
	want := numbered("m", 5)
	f.publish(ps, want...)
	r.waitBodies(f.t, deliveryWait, want)
	for _, m := range r.snapshot() {
		if m.Topic != f.topic {
			f.t.Errorf("message %q arrived with topic %q, want %q", m.Data, m.Topic, f.topic)
		}
	}
	// Each message once: nothing was retried.
	time.Sleep(200 * time.Millisecond)
	if got := r.bodies(); len(got) != len(want) {
		f.t.Errorf("received %d messages (%q), want %d", len(got), got, len(want))
	}
}

func testOrder(f *fixture) {
	if !f.cfg.ordered {
		f.t.Skip("the broker does not promise order")
	}
	ps, r := f.subscribed()
	want := numbered("o", 50)
	f.publish(ps, want...)
	r.waitBodies(f.t, deliveryWait, want)
	if got := r.bodies(); !slices.Equal(got, want) {
		f.t.Errorf("delivered out of order:\n got %q\nwant %q", got, want)
	}
}

// testParallel holds the first handler until a second one runs: a broker
// that hands out one message at a time never gets there.
func testParallel(f *fixture) {
	if !f.cfg.parallel {
		f.t.Skip("the broker hands out one message at a time")
	}
	f.heldAtOnce(2, 0)
}

// batchSize is more than any broker's default number of handlers at once
// (Redis's ten workers), so a broker that ignores Batch never fills it.
const batchSize = 30

// testBatch holds every handler until batchSize of them run at once, as a
// handler that gathers messages into batches holds them until its batch
// goes.
func testBatch(f *fixture) {
	if !f.cfg.batches {
		f.t.Skip("the broker does not run a batching handler's calls at once")
	}
	f.heldAtOnce(batchSize, batchSize)
}

// heldAtOnce subscribes with Batch batch, publishes n messages and holds
// every handler until n of them run at once.
func (f *fixture) heldAtOnce(n, batch int) {
	ps := f.newBroker(f.t)
	var running atomic.Int32
	all, gaveUp := make(chan struct{}), make(chan struct{})
	defer close(gaveUp) // lets the handlers go
	err := ps.Subscribe(f.t.Context(), pubsub.SubscribeRequest{Topic: f.topic, Group: f.group(1), Batch: batch},
		func(ctx context.Context, _ *pubsub.Message) pubsub.Result {
			if running.Add(1) == int32(n) {
				close(all)
			}
			select {
			case <-all:
			case <-gaveUp:
			case <-ctx.Done():
				return pubsub.Retry
			}
			return pubsub.Ack
		})
	if err != nil {
		f.t.Fatalf("subscribe %s: %v", f.topic, err)
	}
	f.publish(ps, numbered("h", n)...)
	select {
	case <-all:
	case <-time.After(deliveryWait):
		f.t.Errorf("after %v %d of %d messages were being handled at once", deliveryWait, running.Load(), n)
	}
}

func testRetry(f *fixture) {
	ps := f.newBroker(f.t)
	r := newReceived()
	var mu sync.Mutex
	tries := map[string]int{}
	f.subscribe(ps, f.t.Context(), f.group(1), func(ctx context.Context, m *pubsub.Message) pubsub.Result {
		mu.Lock()
		tries[string(m.Data)]++
		n := tries[string(m.Data)]
		mu.Unlock()
		r.add(m)
		if string(m.Data) == "retry-me" && n < 3 {
			return pubsub.Retry
		}
		return pubsub.Ack
	})
	f.publish(ps, "retry-me", "plain")
	r.waitFor(f.t, deliveryWait+2*f.cfg.redelivery, "want retry-me three times and plain once", func([]*pubsub.Message) bool {
		mu.Lock()
		defer mu.Unlock()
		return tries["retry-me"] >= 3 && tries["plain"] >= 1
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if tries["retry-me"] != 3 || tries["plain"] != 1 {
		f.t.Errorf("deliveries %v, want retry-me 3 (acked on the third) and plain 1", tries)
	}
}

// second returns another broker, as another process would have, or ps
// under SingleInstance.
func (f *fixture) second(ps pubsub.PubSub) pubsub.PubSub {
	if f.cfg.single {
		return ps
	}
	return f.newBroker(f.t)
}

func testSubscriberGone(f *fixture) {
	crashing := f.newBroker(f.t)
	group := f.group(1)
	holding := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(f.t.Context())
	defer cancel()
	f.subscribe(crashing, ctx, group, func(ctx context.Context, m *pubsub.Message) pubsub.Result {
		once.Do(func() { close(holding) })
		<-ctx.Done()
		return pubsub.Retry
	})
	f.publish(crashing, "orphan")
	select {
	case <-holding:
	case <-time.After(deliveryWait):
		f.t.Fatal("the first subscriber never received the message")
	}
	// The subscriber's process goes away without answering.
	if f.cfg.single {
		cancel()
	} else if err := crashing.Close(); err != nil {
		f.t.Fatalf("close: %v", err)
	}
	ps := f.second(crashing)
	r := newReceived()
	f.subscribe(ps, f.t.Context(), group, r.handler)
	r.waitBodies(f.t, deliveryWait+f.cfg.redelivery, []string{"orphan"})
}

func testDrop(f *fixture) {
	ps := f.newBroker(f.t)
	r := newReceived()
	f.subscribe(ps, f.t.Context(), f.group(1), func(ctx context.Context, m *pubsub.Message) pubsub.Result {
		r.add(m)
		if string(m.Data) == "drop-me" {
			return pubsub.Drop
		}
		return pubsub.Ack
	})
	f.publish(ps, "drop-me", "keep")
	r.waitBodies(f.t, deliveryWait, []string{"drop-me", "keep"})
	// A dropped message is not delivered again, whatever the broker's
	// redelivery interval.
	time.Sleep(f.cfg.redelivery)
	if got := r.bodies(); len(got) != 2 {
		f.t.Errorf("received %q, want drop-me and keep once each", got)
	}
}

func testCompeting(f *fixture) {
	a := f.newBroker(f.t)
	b := f.second(a)
	group := f.group(1)
	r := newReceived()
	var mu sync.Mutex
	by := map[string]int{}
	for name, ps := range map[string]pubsub.PubSub{"a": a, "b": b} {
		f.subscribe(ps, f.t.Context(), group, func(ctx context.Context, m *pubsub.Message) pubsub.Result {
			mu.Lock()
			by[name]++
			mu.Unlock()
			return r.handler(ctx, m)
		})
	}
	want := numbered("c", 40)
	f.publish(a, want...)
	r.waitBodies(f.t, deliveryWait, want)
	time.Sleep(500 * time.Millisecond)
	got := r.bodies()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		f.t.Errorf("the group received %d messages, want each of %d once: %q", len(got), len(want), got)
	}
	mu.Lock()
	f.t.Logf("deliveries per subscriber: %v", by)
	mu.Unlock()
}

func testFanOut(f *fixture) {
	ps := f.newBroker(f.t)
	r1, r2 := newReceived(), newReceived()
	f.subscribe(ps, f.t.Context(), f.group(1), r1.handler)
	f.subscribe(ps, f.t.Context(), f.group(2), r2.handler)
	want := numbered("f", 10)
	f.publish(ps, want...)
	r1.waitBodies(f.t, deliveryWait, want)
	r2.waitBodies(f.t, deliveryWait, want)
}

func testBulkPublish(f *fixture) {
	ps, r := f.subscribed()
	want := numbered("b", 20)
	req := &pubsub.BulkPublishRequest{Topic: f.topic}
	for i, w := range want {
		req.Entries = append(req.Entries, pubsub.BulkPublishEntry{EntryID: strconv.Itoa(i), Data: []byte(w), ContentType: "text/plain"})
	}
	failed, err := pubsub.BulkPublish(f.t.Context(), ps, req)
	if err != nil || len(failed) != 0 {
		f.t.Fatalf("bulk publish: failed %v, err %v", failed, err)
	}
	r.waitBodies(f.t, deliveryWait, want)
}

func testMetadata(f *fixture) {
	if !f.cfg.metadata {
		f.t.Skip("the broker does not carry metadata")
	}
	ps, r := f.subscribed()
	md := map[string]string{"x-conformance": "value with spaces", "Other-Key": "2"}
	err := ps.Publish(f.t.Context(), &pubsub.PublishRequest{
		Topic: f.topic, Data: []byte(`{"a":1}`), ContentType: "application/json", Metadata: md,
	})
	if err != nil {
		f.t.Fatalf("publish: %v", err)
	}
	r.waitBodies(f.t, deliveryWait, []string{`{"a":1}`})
	m := r.snapshot()[0]
	for k, v := range md {
		if m.Metadata[k] != v {
			f.t.Errorf("metadata %q = %q, want %q (delivered %v)", k, m.Metadata[k], v, m.Metadata)
		}
	}
	if m.ContentType != "application/json" {
		f.t.Errorf("content type %q, want application/json", m.ContentType)
	}
}

func testInvalid(f *fixture) {
	ps := f.newBroker(f.t)
	if err := ps.Publish(f.t.Context(), &pubsub.PublishRequest{Data: []byte("x")}); err == nil {
		f.t.Error("publish without a topic succeeded")
	}
	h := func(context.Context, *pubsub.Message) pubsub.Result { return pubsub.Ack }
	if err := ps.Subscribe(f.t.Context(), pubsub.SubscribeRequest{Topic: f.topic}, h); err == nil {
		f.t.Error("subscribe without a group succeeded")
	}
}

func testClose(f *fixture) {
	ps := f.newBroker(f.t)
	running := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	calls, ended := 0, false
	f.subscribe(ps, f.t.Context(), f.group(1), func(ctx context.Context, m *pubsub.Message) pubsub.Result {
		mu.Lock()
		calls++
		mu.Unlock()
		once.Do(func() { close(running) })
		<-ctx.Done()
		mu.Lock()
		ended = true
		mu.Unlock()
		return pubsub.Retry
	})
	f.publish(ps, "held", "next")
	select {
	case <-running:
	case <-time.After(deliveryWait):
		f.t.Fatal("the handler never ran")
	}
	done := make(chan error, 1)
	go func() { done <- ps.Close() }()
	select {
	case err := <-done:
		if err != nil {
			f.t.Fatalf("close: %v", err)
		}
	case <-time.After(deliveryWait):
		f.t.Fatal("Close did not end the running handler")
	}
	mu.Lock()
	if !ended {
		f.t.Error("Close returned while a handler was still running")
	}
	before := calls
	mu.Unlock()
	if err := ps.Publish(context.Background(), &pubsub.PublishRequest{Topic: f.topic, Data: []byte("late")}); err == nil {
		f.t.Error("publish after Close succeeded")
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls != before {
		f.t.Errorf("the handler ran %d times after Close", calls-before)
	}
	if err := ps.Close(); err != nil {
		f.t.Errorf("second close: %v", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
