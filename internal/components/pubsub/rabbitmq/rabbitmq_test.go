package rabbitmq_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/rabbitmq"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const (
	addr = "127.0.0.1:5672"
	uri  = "amqp://guest:guest@" + addr
)

// kept keeps queues while no subscriber is connected, so a message left by
// a subscriber that went away waits for the next, and Retry requeues.
var kept = map[string]string{"connectionString": uri, "deletedWhenUnused": "false", "requeueInFailure": "true"}

// deleteAll removes a case's exchange and its groups' queues (and
// dead-letter queues).
func deleteAll(t testing.TB, topic string, groups []string) {
	conn, err := amqp.Dial(uri)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer ch.Close()
	for _, g := range groups {
		q := g + "-" + topic
		for _, name := range []string{q, "dlq-" + q} {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				t.Errorf("delete queue %s: %v", name, err)
				return
			}
		}
		_ = ch.ExchangeDelete("dlx-"+q, false, false)
	}
	if err := ch.ExchangeDelete(topic, false, false); err != nil {
		t.Errorf("delete exchange %s: %v", topic, err)
	}
}

// TestConformance runs every case one message at a time, with cove's older
// concurrency key, which keeps queue order.
func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "RabbitMQ", addr)
	single := conformance.With(kept, "concurrency", "single")
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, rabbitmq.Type, single) },
		conformance.Ordered(), conformance.MetadataRoundTrip(), conformance.RedeliveryWithin(3*time.Second),
		conformance.Cleanup(deleteAll),
		conformance.Down(addr, func(t *testing.T, proxy string) pubsub.PubSub {
			return conformance.MustOpen(t, rabbitmq.Type, conformance.With(single, "connectionString", "amqp://guest:guest@"+proxy))
		}))
}

// TestConformanceParallelPersistent runs the cases that do not depend on
// order with Dapr's default, messages handled in parallel.
func TestConformanceParallelPersistent(t *testing.T) {
	stateconformance.NeedService(t, "RabbitMQ", addr)
	props := conformance.With(kept, "deliveryMode", "2", "prefetchCount", "5")
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, rabbitmq.Type, props) },
		conformance.Parallel(), conformance.MetadataRoundTrip(), conformance.RedeliveryWithin(3*time.Second),
		conformance.Cleanup(deleteAll), conformance.Skip("broker down", "run by TestConformance"))
}

func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"unreachable", map[string]string{"connectionString": "amqp://guest:guest@127.0.0.1:1"}, "cannot reach RabbitMQ at 127.0.0.1:1"},
		{"delivery mode", map[string]string{"connectionString": uri, "deliveryMode": "3"}, "deliveryMode"},
		{"exchange kind", map[string]string{"connectionString": uri, "exchangeKind": "broadcast"}, "exchangeKind"},
		{"bad uri", map[string]string{"connectionString": "http://x"}, "connectionString"},
		{"concurrency mode", map[string]string{"connectionString": uri, "concurrencyMode": "many"}, "concurrencyMode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conformance.Open(t, rabbitmq.Type, tc.props)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), rabbitmq.Type) {
				t.Fatalf("init: %v, want an error naming %s and %q", err, rabbitmq.Type, tc.want)
			}
		})
	}
}

// names returns a topic and group for one test, removed when it ends.
func names(t *testing.T) (topic, group string) {
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, group = "cove-test-"+suffix, "g"
	t.Cleanup(func() { deleteAll(t, topic, []string{group}) })
	return topic, group
}

// queueDepth counts the messages waiting in a queue.
func queueDepth(t *testing.T, name string) int {
	t.Helper()
	conn, err := amqp.Dial(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("queue %s: %v", name, err)
	}
	return q.Messages
}

// TestRetryWithoutRequeueDeadLetters checks daprd's default: Retry without
// requeueInFailure rejects the message, into the dead-letter queue when
// enableDeadLetter is set; Drop goes there too.
func TestRetryWithoutRequeueDeadLetters(t *testing.T) {
	stateconformance.NeedService(t, "RabbitMQ", addr)
	topic, group := names(t)
	ps := conformance.MustOpen(t, rabbitmq.Type, map[string]string{
		"connectionString": uri, "deletedWhenUnused": "false", "enableDeadLetter": "true",
	})
	calls := make(chan string, 10)
	err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: group}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		calls <- string(m.Data)
		if string(m.Data) == "retry" {
			return pubsub.Retry
		}
		return pubsub.Drop
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"retry", "drop"} {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	dlq := "dlq-" + group + "-" + topic
	deadline := time.Now().Add(10 * time.Second)
	for queueDepth(t, dlq) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := queueDepth(t, dlq); n != 2 {
		t.Fatalf("dead-letter queue holds %d messages, want the retried and the dropped one", n)
	}
	if len(calls) != 2 {
		t.Errorf("handler called %d times, want once per message", len(calls))
	}
}

// TestTTLExpires checks that a message whose ttlInSeconds passes while it
// waits in the queue is never delivered.
func TestTTLExpires(t *testing.T) {
	stateconformance.NeedService(t, "RabbitMQ", addr)
	topic, group := names(t)
	ps := conformance.MustOpen(t, rabbitmq.Type, kept)
	if !slices.Contains(ps.Features(), pubsub.FeatureMessageTTL) {
		t.Fatal("RabbitMQ should report MESSAGE_TTL")
	}
	// Declare the group's queue, then leave: messages wait in it.
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan string, 10)
	h := func(_ context.Context, m *pubsub.Message) pubsub.Result { got <- string(m.Data); return pubsub.Ack }
	if err := ps.Subscribe(ctx, pubsub.SubscribeRequest{Topic: topic, Group: group}, h); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(200 * time.Millisecond)
	for body, ttl := range map[string]string{"short": "1", "long": "60"} {
		err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte(body), Metadata: map[string]string{"ttlInSeconds": ttl}})
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: group}, h); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		if body != "long" {
			t.Fatalf("delivered %q, want only the message whose TTL has not passed", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long-lived message was not delivered")
	}
	select {
	case body := <-got:
		t.Fatalf("delivered %q after its TTL", body)
	case <-time.After(500 * time.Millisecond):
	}
}

// BenchmarkPublishDeliver compares the broker with amqp091 alone (see
// amqp091).
func BenchmarkPublishDeliver(b *testing.B) {
	stateconformance.NeedService(b, "RabbitMQ", addr)
	conformance.Bench(b, conformance.MustOpen(b, rabbitmq.Type, conformance.With(kept, "concurrency", "parallel")), deleteAll, amqp091)
}

// amqp091 is the broker's baseline (see conformance.Baseline): the durable
// fanout exchange and queue the broker declares for a topic and group, a
// confirm-mode channel per publisher, each publish waiting for its
// confirm, and one consumer that acks each delivery.
func amqp091(b *testing.B, topic, group string, deliver func([]byte)) func(context.Context, []byte) error {
	conn, err := amqp.Dial(uri)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	queue := group + "-" + topic
	if err := ch.ExchangeDeclare(topic, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	if err := ch.QueueBind(queue, "", topic, false, nil); err != nil {
		b.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for d := range deliveries {
			deliver(d.Body)
			_ = d.Ack(false)
		}
	}()
	// Publishers take a channel each from pubs.
	pubs := make(chan *amqp.Channel, 8)
	for range cap(pubs) {
		pc, err := conn.Channel()
		if err == nil {
			err = pc.Confirm(false)
		}
		if err != nil {
			b.Fatal(err)
		}
		pubs <- pc
	}
	return func(ctx context.Context, body []byte) error {
		pc := <-pubs
		defer func() { pubs <- pc }()
		conf, err := pc.PublishWithDeferredConfirmWithContext(ctx, topic, "", false, false, amqp.Publishing{Body: body})
		if err != nil {
			return err
		}
		ok, err := conf.WaitContext(ctx)
		if err == nil && !ok {
			err = errors.New("nack")
		}
		return err
	}
}

// TestPublishAfterExchangeAutoDeleted checks daprd's default
// deletedWhenUnused: when the last subscriber leaves, RabbitMQ deletes the
// queue and then the exchange, and a later publish declares the exchange
// again instead of failing on the one it declared before.
func TestPublishAfterExchangeAutoDeleted(t *testing.T) {
	stateconformance.NeedService(t, "RabbitMQ", addr)
	topic, group := names(t)
	ps := conformance.MustOpen(t, rabbitmq.Type, map[string]string{"connectionString": uri})
	ctx, cancel := context.WithCancel(t.Context())
	h := func(context.Context, *pubsub.Message) pubsub.Result { return pubsub.Ack }
	if err := ps.Subscribe(ctx, pubsub.SubscribeRequest{Topic: topic, Group: group}, h); err != nil {
		t.Fatal(err)
	}
	if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	cancel()
	conn, err := amqp.Dial(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		err = ch.ExchangeDeclarePassive(topic, "fanout", false, true, false, false, nil)
		if err != nil {
			break // gone
		}
		_ = ch.Close()
		if time.Now().After(deadline) {
			t.Fatal("the exchange was not auto-deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 3 {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("2")}); err != nil {
			t.Fatalf("publish %d after the exchange was deleted: %v", i, err)
		}
	}
}
