package mqtt3_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/mqtt3"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:1883"

var props = map[string]string{"url": "tcp://" + addr}

// MQTT topics and shared subscriptions live only while used (the suite's
// sessions are clean), so there is nothing to clean up.
func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "Mosquitto", addr)
	conformance.Run(t, func(t *testing.T) pubsub.PubSub { return conformance.MustOpen(t, mqtt3.Type, props) },
		conformance.RedeliveryWithin(3*time.Second),
		conformance.Skip("subscriber gone redelivers", "MQTT 3 resends an unacknowledged message only to the session that received it, when it comes back (see TestKeptSessionRedelivers)"),
		conformance.Down(addr, func(t *testing.T, proxy string) pubsub.PubSub {
			return conformance.MustOpen(t, mqtt3.Type, map[string]string{"url": "tcp://" + proxy})
		}))
}

// TestKeptSessionRedelivers checks the crash case MQTT 3 does have: with
// consumerID and cleanSession false, a message the subscriber did not
// acknowledge before going away comes back when it subscribes again, and
// what was published meanwhile waits for it.
func TestKeptSessionRedelivers(t *testing.T) {
	stateconformance.NeedService(t, "Mosquitto", addr)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, consumer := "cove-test/kept-"+suffix, "cove-test-"+suffix
	kept := conformance.With(props, "consumerID", consumer, "cleanSession", "false")
	t.Cleanup(func() { dropSession(mqtt3.SessionClientID(consumer, "g", topic)) })

	first := conformance.MustOpen(t, mqtt3.Type, kept)
	holding := make(chan struct{}, 1)
	err := first.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: "g"}, func(ctx context.Context, _ *pubsub.Message) pubsub.Result {
		holding <- struct{}{}
		<-ctx.Done()
		return pubsub.Retry
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("held")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-holding:
	case <-time.After(10 * time.Second):
		t.Fatal("the first subscriber never received the message")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := conformance.MustOpen(t, mqtt3.Type, kept)
	if err := second.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte("meanwhile")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	err = second.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: topic, Group: "g"}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		got <- string(m.Data)
		return pubsub.Ack
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for timeout := time.After(10 * time.Second); !seen["held"] || !seen["meanwhile"]; {
		select {
		case b := <-got:
			seen[b] = true
		case <-timeout:
			t.Fatalf("after resubscribing got %v, want held and meanwhile", seen)
		}
	}
}

// dropSession ends a kept session a test made: a clean connection under
// its client id drops it.
func dropSession(id string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
	}
}

func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"no url", map[string]string{}, "url is required"},
		{"qos", map[string]string{"url": "tcp://" + addr, "qos": "3"}, "qos"},
		{"unreachable", map[string]string{"url": "tcp://127.0.0.1:1"}, "cannot reach the MQTT broker at tcp://127.0.0.1:1"},
		{"half client cert", map[string]string{"url": "tcp://" + addr, "clientCert": "x"}, "clientKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conformance.Open(t, mqtt3.Type, tc.props)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), mqtt3.Type) {
				t.Fatalf("init: %v, want an error naming %s and %q", err, mqtt3.Type, tc.want)
			}
		})
	}
}

func TestWildcardSubscription(t *testing.T) {
	stateconformance.NeedService(t, "Mosquitto", addr)
	ps := conformance.MustOpen(t, mqtt3.Type, props)
	base := "cove-test/wild-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	got := make(chan *pubsub.Message, 4)
	err := ps.Subscribe(t.Context(), pubsub.SubscribeRequest{Topic: base + "/+/created", Group: "g"}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		got <- m
		return pubsub.Ack
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{base + "/orders/created", base + "/orders/deleted"} {
		if err := ps.Publish(t.Context(), &pubsub.PublishRequest{Topic: topic, Data: []byte(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-got:
		if m.Topic != base+"/orders/created" {
			t.Errorf("delivered topic %q, want the matching one", m.Topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
	select {
	case m := <-got:
		t.Errorf("delivered %q, which the wildcard does not match", m.Topic)
	case <-time.After(300 * time.Millisecond):
	}
}

// BenchmarkPublishDeliver compares the broker with paho alone: one client
// publishing with qos 1 and waiting for each PUBACK, another subscribed
// with qos 1 that acknowledges each message once handled.
func BenchmarkPublishDeliver(b *testing.B) {
	stateconformance.NeedService(b, "Mosquitto", addr)
	conformance.Bench(b, conformance.MustOpen(b, mqtt3.Type, props), nil, paho)
}

// paho is the broker's baseline (see conformance.Baseline). Its sessions
// are clean, so nothing outlives the benchmark.
func paho(b *testing.B, topic, _ string, deliver func([]byte)) func(context.Context, []byte) error {
	connect := func(id string) mqtt.Client {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(props["url"]).SetClientID(id).SetCleanSession(true))
		if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			b.Fatalf("connect: %v", t.Error())
		}
		b.Cleanup(func() { c.Disconnect(250) })
		return c
	}
	id := "cove-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sub, pub := connect(id+"-sub"), connect(id+"-pub")
	t := sub.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { deliver(m.Payload()) })
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		b.Fatalf("subscribe: %v", t.Error())
	}
	return func(ctx context.Context, body []byte) error {
		t := pub.Publish(topic, 1, false, body)
		select {
		case <-t.Done():
			return t.Error()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
