// Package mqtt3 is the bindings.mqtt3 binding on MQTT 3.1.1, as Dapr's:
// output create publishes to the topic (or the request's topic metadata);
// input subscribes to the topic, the message's topic in the event's
// metadata. As in Dapr 1.18, messages go with QoS 1 whatever qos says.
// A message is acknowledged once the app took it; one the app fails is
// handed to it again every 5s, backOffMaxRetries times (-1: until it takes
// it), then left unacknowledged, which a kept session (cleanSession false,
// Dapr's default) gets again when it reconnects.
package mqtt3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/mqttconn"
)

// Type is the component type this package registers.
const Type = "bindings.mqtt3"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ bindings.Output = (*Binding)(nil)
	_ bindings.Input  = (*Binding)(nil)
)

const (
	qos = 1 // Dapr 1.18 ignores the qos metadata
	// retryPause is Dapr's constant back-off between the app's failures.
	retryPause = 5 * time.Second
)

type metadata struct {
	bindings.RuntimeMetadata

	URL               string `metadata:"url"`
	Topic             string `metadata:"topic"`
	ConsumerID        string `metadata:"consumerID"`
	QoS               string `metadata:"qos"`
	Retain            bool   `metadata:"retain"`
	CleanSession      bool   `metadata:"cleanSession"`
	BackOffMaxRetries int    `metadata:"backOffMaxRetries"`
	CACert            string `metadata:"caCert"`
	ClientCert        string `metadata:"clientCert"`
	ClientKey         string `metadata:"clientKey"`
}

// Binding is the MQTT binding.
type Binding struct {
	md     metadata
	broker string // the url without credentials, for messages
	tls    *tls.Config
	log    *slog.Logger
	pub    mqtt.Client

	mu      sync.Mutex
	closed  bool
	done    chan struct{}
	readers map[int]bool // the slots of running readers, for their client ids
	wg      sync.WaitGroup
}

// New returns an uninitialised binding.
func New() *Binding {
	return &Binding{done: make(chan struct{}), readers: map[int]bool{}, log: slog.Default()}
}

// Init reads the metadata and connects the publishing client.
func (b *Binding) Init(ctx context.Context, md components.Metadata) error {
	b.log = slog.Default().With("component", md.Name, "type", Type)
	var m metadata
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	if m.URL == "" {
		errs = append(errs, errors.New("metadata url is required (tcp://host:1883)"))
	} else if b.broker, err = mqttconn.Broker(m.URL); err != nil {
		errs = append(errs, fmt.Errorf("metadata url %w", err))
	}
	if m.Topic == "" {
		errs = append(errs, errors.New("metadata topic is required"))
	}
	if m.ConsumerID == "" {
		errs = append(errs, errors.New("metadata consumerID is required: it names the binding's MQTT clients"))
	}
	tlsCfg, err := mqttconn.TLSConfig(m.CACert, m.ClientCert, m.ClientKey)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.tls = tlsCfg
	if m.QoS != "" {
		b.log.Warn("metadata qos is ignored, as by Dapr: messages go with QoS 1")
	}
	b.md = m
	if b.pub, err = b.connect(ctx, m.ConsumerID+"-producer", false, nil); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	return nil
}

func (b *Binding) connect(ctx context.Context, id string, clean bool, onConnect func(mqtt.Client)) (mqtt.Client, error) {
	return mqttconn.Connect(ctx, mqttconn.Options{URL: b.md.URL, ClientID: id, Clean: clean, TLS: b.tls, OnConnect: onConnect})
}

// Operations is Dapr's: create.
func (b *Binding) Operations() []string { return []string{bindings.OperationCreate} }

// Invoke publishes the data to the topic metadata item's topic, else the
// binding's, and waits for the broker's acknowledgement; retain metadata
// overrides the binding's retain.
func (b *Binding) Invoke(ctx context.Context, req *bindings.Request) (*bindings.Response, error) {
	topic := req.Metadata["topic"]
	if topic == "" {
		topic = b.md.Topic
	}
	retain := b.md.Retain
	if v := req.Metadata["retain"]; v != "" {
		r, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata retain %q: true or false", bindings.ErrInvalid, v)
		}
		retain = r
	}
	if !b.pub.IsConnectionOpen() {
		return nil, fmt.Errorf("publish to %q: the connection to the MQTT broker at %s is down", topic, b.broker)
	}
	if err := mqttconn.Await(ctx, b.pub.Publish(topic, qos, retain, req.Data)); err != nil {
		return nil, fmt.Errorf("failed to publish to %q on the MQTT broker at %s: %w", topic, b.broker, err)
	}
	return nil, nil
}

// Read subscribes to the topic with a client of its own until ctx ends or
// the binding closes. Its client id is consumerID-consumer for the first
// reader, with -2, -3, ... for readers beside it, so a kept session is
// found again by the reader that takes its place.
func (b *Binding) Read(ctx context.Context, h bindings.Handler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errors.New("binding is closed")
	}
	slot := 1
	for b.readers[slot] {
		slot++
	}
	b.readers[slot] = true
	b.mu.Unlock()
	release := func() {
		b.mu.Lock()
		delete(b.readers, slot)
		b.mu.Unlock()
	}
	id := b.md.ConsumerID + "-consumer"
	if slot > 1 {
		id += "-" + strconv.Itoa(slot)
	}
	rctx, cancel := context.WithCancel(ctx)
	var inflight sync.WaitGroup
	var mu sync.Mutex
	ended := false
	onMessage := func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		if ended {
			mu.Unlock()
			return
		}
		inflight.Add(1)
		mu.Unlock()
		defer inflight.Done()
		b.deliver(rctx, m, h)
	}
	// Subscribe again on every reconnection (a clean session forgets its
	// subscriptions); the first subscription is made below and waited for.
	var connected atomic.Bool
	subscribe := func(c mqtt.Client) {
		if connected.Swap(true) {
			c.Subscribe(b.md.Topic, qos, onMessage)
		}
	}
	c, err := b.connect(ctx, id, b.md.CleanSession, subscribe)
	if err == nil {
		if err = mqttconn.Await(ctx, c.Subscribe(b.md.Topic, qos, onMessage)); err != nil {
			c.Disconnect(0)
		}
	}
	if err != nil {
		cancel()
		release()
		return fmt.Errorf("subscribe to %q on the MQTT broker at %s: %w", b.md.Topic, b.broker, err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer release()
		select {
		case <-rctx.Done():
		case <-b.done:
		}
		cancel()
		mu.Lock()
		ended = true
		mu.Unlock()
		inflight.Wait()
		c.Disconnect(200)
	}()
	return nil
}

// deliver hands m to h, again after each failure as backOffMaxRetries
// allows, and acknowledges it once h takes it.
func (b *Binding) deliver(ctx context.Context, m mqtt.Message, h bindings.Handler) {
	ev := &bindings.Event{Data: m.Payload(), Metadata: map[string]string{"topic": m.Topic()}}
	for try := 0; ; try++ {
		_, err := h(ctx, ev)
		if err == nil {
			m.Ack()
			return
		}
		if b.md.BackOffMaxRetries >= 0 && try >= b.md.BackOffMaxRetries {
			b.log.Error("MQTT message not processed; left unacknowledged", "topic", m.Topic(), "id", m.MessageID(), "error", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryPause):
		}
	}
}

// Close ends every reader and disconnects.
func (b *Binding) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	b.mu.Unlock()
	b.wg.Wait()
	if b.pub != nil {
		b.pub.Disconnect(200)
	}
	return nil
}
