package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/redis"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:6379"

// fast makes redelivery quick enough for a test.
var fast = map[string]string{"processingTimeout": "1000", "redeliverInterval": "200ms"}

func open(t *testing.T, props map[string]string) pubsub.PubSub {
	t.Helper()
	return conformance.MustOpen(t, redis.Type, props)
}

// deleteStreams removes a case's stream, and with it its groups.
func deleteStreams(t testing.TB, topic string, _ []string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Del(ctx, topic).Err(); err != nil {
		t.Errorf("delete stream %s: %v", topic, err)
	}
}

func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	props := conformance.With(fast, "redisHost", addr, "concurrency", "1")
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return open(t, props) },
		conformance.Ordered(), conformance.MetadataRoundTrip(), conformance.Batches(),
		conformance.RedeliveryWithin(3*time.Second), conformance.Cleanup(deleteStreams),
		conformance.Down(addr, func(t *testing.T, proxy string) pubsub.PubSub {
			return open(t, conformance.With(props, "redisHost", proxy, "redisMaxRetries", "1"))
		}))
}

// TestConformanceConcurrent runs the cases that do not depend on order with
// Dapr's default of ten workers per subscription.
func TestConformanceConcurrent(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	props := conformance.With(fast, "redisHost", addr)
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return open(t, props) },
		conformance.Parallel(), conformance.MetadataRoundTrip(), conformance.RedeliveryWithin(3*time.Second),
		conformance.Cleanup(deleteStreams),
		conformance.Skip("broker down", "run by TestConformance"))
}

func TestInitErrors(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"no host", map[string]string{}, "redisHost is required"},
		{"bad timeout", map[string]string{"redisHost": addr, "processingTimeout": "soon"}, "processingTimeout"},
		{"no workers", map[string]string{"redisHost": addr, "concurrency": "0"}, "concurrency"},
		{"two trims", map[string]string{"redisHost": addr, "maxLenApprox": "10", "streamTTL": "1m"}, "maxLenApprox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conformance.Open(t, redis.Type, tc.props)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), redis.Type) {
				t.Fatalf("init: %v, want an error naming %s and %q", err, redis.Type, tc.want)
			}
		})
	}
}

// TestDaprLayout checks that entries are written and read as daprd writes
// and reads them, so cove and daprd share streams.
func TestDaprLayout(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	ps := open(t, conformance.With(fast, "redisHost", addr, "concurrency", "1"))
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	topic := "cove-test-layout-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	t.Cleanup(func() { deleteStreams(t, topic, nil) })
	ctx := t.Context()

	if err := ps.Publish(ctx, &pubsub.PublishRequest{Topic: topic, Data: []byte(`{"a":1}`), Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	entries, err := c.XRange(ctx, topic, "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("xrange: %v %v", entries, err)
	}
	if got := entries[0].Values; got["data"] != `{"a":1}` || got["metadata"] != `{"k":"v"}` {
		t.Errorf("entry fields %v, want data and metadata as daprd writes them", got)
	}

	// An entry daprd wrote is delivered with its metadata.
	got := make(chan *pubsub.Message, 2)
	err = ps.Subscribe(ctx, pubsub.SubscribeRequest{Topic: topic, Group: "g"}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		got <- m
		return pubsub.Ack
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: topic, Values: []any{"data", "from-daprd", "metadata", `{"x":"y"}`}}).Err(); err != nil {
		t.Fatalf("xadd: %v", err)
	}
	for _, want := range []string{`{"a":1}`, "from-daprd"} {
		select {
		case m := <-got:
			if string(m.Data) != want {
				t.Errorf("delivered %q, want %q", m.Data, want)
			}
			if want == "from-daprd" && m.Metadata["x"] != "y" {
				t.Errorf("metadata %v, want x=y", m.Metadata)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q not delivered", want)
		}
	}
}

func TestMaxLenApproxTrims(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	ps := open(t, map[string]string{"redisHost": addr, "maxLenApprox": "10"})
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	topic := "cove-test-trim-" + time.Now().Format("150405.000000")
	t.Cleanup(func() { deleteStreams(t, topic, nil) })
	for i := range 1000 {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte{byte(i)}}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	n, err := c.XLen(t.Context(), topic).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Approximate trimming removes whole nodes (100 entries by default).
	if n >= 1000 || n < 10 {
		t.Errorf("stream holds %d entries after 1000 publishes with maxLenApprox 10", n)
	}
}

// BenchmarkPublishDeliver compares the broker with go-redis doing the same
// work alone: XADD of each message, and one reader that takes up to 100
// entries per XREADGROUP and acknowledges them in one XACK.
func BenchmarkPublishDeliver(b *testing.B) {
	stateconformance.NeedService(b, "Redis", addr)
	conformance.Bench(b, conformance.MustOpen(b, redis.Type, map[string]string{"redisHost": addr}), deleteStreams, goRedis)
}

// goRedis is the broker's baseline (see conformance.Baseline).
func goRedis(b *testing.B, topic, group string, deliver func([]byte)) func(context.Context, []byte) error {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	if err := c.XGroupCreateMkStream(b.Context(), topic, group, "0").Err(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "direct", Streams: []string{topic, ">"},
				Count: 100, Block: time.Second}).Result()
			if errors.Is(err, goredis.Nil) {
				continue // nothing within Block
			}
			if err != nil {
				if ctx.Err() == nil {
					b.Errorf("xreadgroup: %v", err)
				}
				return
			}
			var ids []string
			for _, m := range res[0].Messages {
				data, _ := m.Values["data"].(string)
				deliver([]byte(data))
				ids = append(ids, m.ID)
			}
			if err := c.XAck(ctx, topic, group, ids...).Err(); err != nil && ctx.Err() == nil {
				b.Errorf("xack: %v", err)
			}
		}
	}()
	b.Cleanup(func() { cancel(); <-done; c.Close() })
	return func(ctx context.Context, body []byte) error {
		return c.XAdd(ctx, &goredis.XAddArgs{Stream: topic, Values: []any{"data", body}}).Err()
	}
}

// TestManySubscriptionsDoNotStarvePublishes checks that subscriptions,
// each blocked in XREADGROUP most of the time, do not take the connections
// publishes need: one broker serves every app of an environment, so it
// holds more subscriptions than go-redis's default pool has connections.
func TestManySubscriptionsDoNotStarvePublishes(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	ps := conformance.MustOpen(t, redis.Type, map[string]string{"redisHost": addr})
	base := "cove-test-many-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	const subs = 60
	got := make(chan string, subs)
	topics := make([]string, subs)
	for i := range topics {
		topics[i] = base + strconv.Itoa(i)
		t.Cleanup(func() { deleteStreams(t, topics[i], nil) })
		err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topics[i], Group: "g"}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
			got <- m.Topic
			return pubsub.Ack
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // every reader blocked in XREADGROUP
	start := time.Now()
	for _, topic := range topics {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := ps.Publish(ctx, &pubsub.PublishRequest{Topic: topic, Data: []byte("x")})
		cancel()
		if err != nil {
			t.Fatalf("publish to %s after %v: %v", topic, time.Since(start), err)
		}
	}
	for range topics {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("not every subscription got its message")
		}
	}
	t.Logf("%d publishes with %d subscriptions took %v", subs, subs, time.Since(start))
}

// xackCounter counts the XACK commands a broker sends and the entries they
// carry, holding the first one back for hold.
type xackCounter struct {
	hold    time.Duration
	calls   atomic.Int64
	entries atomic.Int64
}

func (c *xackCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *xackCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (c *xackCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if strings.EqualFold(cmd.Name(), "xack") {
			if c.calls.Add(1) == 1 {
				time.Sleep(c.hold)
			}
			c.entries.Add(int64(len(cmd.Args()) - 3)) // XACK stream group id...
		}
		return next(ctx, cmd)
	}
}

// TestAcksAreBatched checks that entries settled while an XACK is on its
// way go out together in the next one, rather than one round trip each,
// and that every entry is acknowledged.
func TestAcksAreBatched(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	ps := open(t, map[string]string{"redisHost": addr})
	counter := &xackCounter{hold: 100 * time.Millisecond}
	redis.AddHook(ps.(*redis.Broker), counter)
	topic := "cove-test-acks-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteStreams(t, topic, nil) })
	const n = 300
	var got atomic.Int64
	err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: "g"}, func(context.Context, *pubsub.Message) pubsub.Result {
		got.Add(1)
		return pubsub.Ack
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := c.XPending(t.Context(), topic, "g").Result()
		if err != nil {
			t.Fatal(err)
		}
		if got.Load() == n && p.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered, %d still pending", got.Load(), n, p.Count)
		}
		time.Sleep(20 * time.Millisecond)
	}
	calls, entries := counter.calls.Load(), counter.entries.Load()
	t.Logf("%d entries acknowledged in %d XACKs", entries, calls)
	if entries != n {
		t.Errorf("XACKs carried %d entries, want %d", entries, n)
	}
	if calls > n/2 {
		t.Errorf("%d entries took %d XACKs: settled entries are not acknowledged together", n, calls)
	}
}
