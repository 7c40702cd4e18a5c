package jetstream_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/jetstream"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:4222"

var url = "nats://" + addr

// fast makes redelivery after a subscriber goes away quick enough for a
// test, yet long enough that an ack delayed by a loaded machine does not
// redeliver a handled message (which the competing-subscribers case counts).
var fast = map[string]string{"ackWait": "2s"}

// deleteStream removes the stream cove created for a case's topic, and
// with it the case's consumers.
func deleteStream(t testing.TB, topic string, _ []string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, _ := natsjs.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, topic); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Errorf("delete stream %s: %v", topic, err)
	}
}

func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "NATS JetStream", addr)
	props := conformance.With(fast, "natsURL", url)
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, jetstream.Type, props) },
		conformance.Ordered(), conformance.MetadataRoundTrip(), conformance.Batches(),
		conformance.RedeliveryWithin(5*time.Second), conformance.Cleanup(deleteStream),
		conformance.Down(addr, func(t *testing.T, proxy string) pubsub.PubSub {
			return conformance.MustOpen(t, jetstream.Type, conformance.With(props, "natsURL", "nats://"+proxy))
		}))
}

func TestConformanceParallel(t *testing.T) {
	stateconformance.NeedService(t, "NATS JetStream", addr)
	props := conformance.With(fast, "natsURL", url, "concurrencyMode", "parallel")
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, jetstream.Type, props) },
		conformance.Parallel(), conformance.MetadataRoundTrip(), conformance.RedeliveryWithin(5*time.Second),
		conformance.Cleanup(deleteStream), conformance.Skip("broker down", "run by TestConformance"))
}

func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"unreachable", map[string]string{"natsURL": "nats://127.0.0.1:1"}, "cannot reach NATS at nats://127.0.0.1:1"},
		{"deliver policy", map[string]string{"natsURL": url, "deliverPolicy": "oldest"}, "deliverPolicy"},
		{"sequence without start", map[string]string{"natsURL": url, "deliverPolicy": "sequence"}, "startSequence"},
		{"jwt without seed", map[string]string{"natsURL": url, "jwt": "x"}, "seedKey"},
		{"concurrency", map[string]string{"natsURL": url, "concurrency": "many"}, "concurrency"},
		{"concurrency mode", map[string]string{"natsURL": url, "concurrency": "single", "concurrencyMode": "many"}, "concurrencyMode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conformance.Open(t, jetstream.Type, tc.props)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), jetstream.Type) {
				t.Fatalf("init: %v, want an error naming %s and %q", err, jetstream.Type, tc.want)
			}
		})
	}
}

// TestMaxDeliver checks that maxDeliver bounds the deliveries of a message
// that is always retried.
func TestMaxDeliver(t *testing.T) {
	stateconformance.NeedService(t, "NATS JetStream", addr)
	ps := conformance.MustOpen(t, jetstream.Type, map[string]string{"natsURL": url, "maxDeliver": "3"})
	topic := "cove-test-maxdeliver-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteStream(t, topic, nil) })
	got := make(chan struct{}, 10)
	err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: "g"}, func(context.Context, *pubsub.Message) pubsub.Result {
		got <- struct{}{}
		return pubsub.Retry
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for timeout := time.After(3 * time.Second); ; {
		select {
		case <-got:
			n++
			continue
		case <-timeout:
		}
		break
	}
	if n != 3 {
		t.Errorf("delivered %d times, want maxDeliver 3", n)
	}
}

// BenchmarkPublishDeliver compares the broker on nats-server with nats.go
// alone on the same server (see natsJS).
func BenchmarkPublishDeliver(b *testing.B) {
	stateconformance.NeedService(b, "NATS JetStream", addr)
	conformance.Bench(b, conformance.MustOpen(b, jetstream.Type, map[string]string{"natsURL": url, "concurrency": "parallel"}), deleteStream,
		natsJS(func() (*nats.Conn, error) { return nats.Connect(url) }))
}

// BenchmarkPublishDeliverEmbedded compares the broker on its embedded
// server with nats.go alone, in process, on that same server.
func BenchmarkPublishDeliverEmbedded(b *testing.B) {
	ps := conformance.MustOpen(b, jetstream.Type, map[string]string{"concurrency": "parallel"})
	srv := jetstream.EmbeddedServer(ps.(*jetstream.Broker))
	conformance.Bench(b, ps, nil,
		natsJS(func() (*nats.Conn, error) { return nats.Connect(srv.ClientURL(), nats.InProcessServer(srv)) }))
}

// natsJS is the broker's baseline (see conformance.Baseline) on a
// connection connect opens: nats.go's JetStream API publishing each message
// and waiting for its PubAck, to a file-stored stream named after the
// topic (as the broker makes one), and a durable consumer that acks each
// message as Consume pulls it.
func natsJS(connect func() (*nats.Conn, error)) conformance.Baseline {
	return func(b *testing.B, topic, group string, deliver func([]byte)) func(context.Context, []byte) error {
		nc, err := connect()
		if err != nil {
			b.Fatal(err)
		}
		js, err := natsjs.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		stream, err := js.CreateStream(b.Context(), natsjs.StreamConfig{Name: topic, Subjects: []string{topic}, Storage: natsjs.FileStorage})
		if err != nil {
			b.Fatal(err)
		}
		cons, err := stream.CreateOrUpdateConsumer(b.Context(), natsjs.ConsumerConfig{Durable: group, AckPolicy: natsjs.AckExplicitPolicy})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(m natsjs.Msg) {
			deliver(m.Data())
			if err := m.Ack(); err != nil {
				b.Errorf("ack: %v", err)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cc.Stop(); nc.Close() })
		return func(ctx context.Context, body []byte) error {
			_, err := js.Publish(ctx, topic, body)
			return err
		}
	}
}

// TestPublishAfterStreamDeleted checks that a publish makes the topic's
// stream again when it was deleted since cove made it (by an operator,
// say), instead of failing on the one it remembers.
func TestPublishAfterStreamDeleted(t *testing.T) {
	stateconformance.NeedService(t, "NATS JetStream", addr)
	ps := conformance.MustOpen(t, jetstream.Type, map[string]string{"natsURL": url})
	topic := "cove-test-deleted-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteStream(t, topic, nil) })
	for i := range 2 {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("x")}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		deleteStream(t, topic, nil)
	}
}

// TestBulkPublishAfterStreamDeleted is TestPublishAfterStreamDeleted for
// the native bulk publish.
func TestBulkPublishAfterStreamDeleted(t *testing.T) {
	stateconformance.NeedService(t, "NATS JetStream", addr)
	ps := conformance.MustOpen(t, jetstream.Type, map[string]string{"natsURL": url})
	topic := "cove-test-bulk-deleted-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteStream(t, topic, nil) })
	req := &pubsub.BulkPublishRequest{Topic: topic, Entries: []pubsub.BulkPublishEntry{{EntryID: "a", Data: []byte("1")}, {EntryID: "b", Data: []byte("2")}}}
	for i := range 2 {
		if failed, err := pubsub.BulkPublish(t.Context(), ps, req); err != nil {
			t.Fatalf("bulk publish %d: %v %v", i, failed, err)
		}
		deleteStream(t, topic, nil)
	}
}

// TestSubscriptionSurvivesStreamDeleted checks that a subscription whose
// stream (and with it its consumer) is deleted makes them again, so
// messages published afterwards still reach it.
func TestSubscriptionSurvivesStreamDeleted(t *testing.T) {
	stateconformance.NeedService(t, "NATS JetStream", addr)
	ps := conformance.MustOpen(t, jetstream.Type, map[string]string{"natsURL": url})
	topic := "cove-test-resub-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteStream(t, topic, nil) })
	got := make(chan string, 100)
	err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: "g"}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		got <- string(m.Data)
		return pubsub.Ack
	})
	if err != nil {
		t.Fatal(err)
	}
	deleteStream(t, topic, nil)
	deadline := time.After(30 * time.Second)
	for i := 0; ; i++ {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("after")}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		select {
		case <-got:
			return
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message reached the subscription after its stream was deleted")
		}
	}
}
