// Package mqtt3 is the pubsub.mqtt3 broker on MQTT 3.1.1
// (github.com/eclipse/paho.mqtt.golang), with Dapr's metadata keys (url,
// qos, retain, cleanSession, consumerID, caCert, clientCert, clientKey).
// Topics are MQTT topics, and may hold MQTT's wildcards + and #
// (SUBSCRIBE_WILDCARDS).
//
// Consumer groups are MQTT shared subscriptions ("$share/<group>/<topic>",
// which Mosquitto, EMQX and HiveMQ serve to MQTT 3.1.1 clients): the
// subscribers of a group share the messages, each group gets every one.
// Each subscription has its own client. With consumerID set, its client id
// is derived from consumerID, the group and the topic, and keeps its
// session as cleanSession says (Dapr's default false: the broker keeps
// what arrives while it is away and resends what it did not acknowledge
// when it comes back); without consumerID the client id is random and the
// session clean, so no session outlives the subscription.
//
// A publish with qos 1 or 2 (the default is 1) is acknowledged when the
// broker has accepted it; with qos 0 it is not confirmed at all. MQTT 3 has
// no headers, so publish metadata (except retain, which sets the retain
// flag) and the content type do not travel. It has no negative
// acknowledgement either: a message answered Retry is handed to the
// handler again after a pause, for as long as the subscription lives, and
// is acknowledged once answered Ack or Drop. Deliveries are handled
// concurrently, in no guaranteed order.
//
// It imports only the components registry, the pub/sub interface and
// mqttconn (the connection it shares with bindings.mqtt3).
package mqtt3

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/mqttconn"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/lifetime"
	"github.com/cove-env/cove/internal/components/pubsub/link"
)

// Type is the component type this package registers.
const Type = "pubsub.mqtt3"

const (
	// publishWait bounds a publish whose context has no deadline.
	publishWait = 10 * time.Second
	// retryPause is how long a message answered Retry waits before it is
	// handed to the handler again.
	retryPause = time.Second
)

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ pubsub.PubSub = (*Broker)(nil)

// metadata is the component's metadata as Dapr's MQTT pub/sub names it.
type metadata struct {
	pubsub.RuntimeMetadata

	URL          string `metadata:"url"`
	QoS          byte   `metadata:"qos"`
	Retain       bool   `metadata:"retain"`
	CleanSession bool   `metadata:"cleanSession"`
	CACert       string `metadata:"caCert"`
	ClientCert   string `metadata:"clientCert"`
	ClientKey    string `metadata:"clientKey"`
}

// Broker is the MQTT broker. The zero value is not usable; call New.
type Broker struct {
	md     metadata
	broker string // the url without credentials, for messages
	tls    *tls.Config
	name   string
	pub    mqtt.Client
	log    *slog.Logger
	// link fails publishes waiting for an acknowledgement when the
	// publishing connection drops.
	link *link.Link

	life *lifetime.Lifetime
}

// New returns an uninitialised broker.
func New() *Broker {
	return &Broker{life: lifetime.New(), log: slog.Default()}
}

// Init reads the metadata and connects the publishing client.
func (b *Broker) Init(ctx context.Context, md components.Metadata) error {
	b.log = slog.Default().With("component", md.Name, "type", Type)
	m := metadata{QoS: 1}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	if m.URL == "" {
		errs = append(errs, errors.New("metadata url is required (tcp://host:1883, ssl://host:8883)"))
	} else if u, err := url.Parse(m.URL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("metadata url %q: not a broker address such as tcp://host:1883", m.URL))
	} else {
		u.User = nil
		b.broker = u.String()
	}
	if m.QoS > 2 {
		errs = append(errs, fmt.Errorf("metadata qos %d: use 0, 1 or 2", m.QoS))
	}
	tlsCfg, err := mqttconn.TLSConfig(m.CACert, m.ClientCert, m.ClientKey)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.md, b.tls, b.name = m, tlsCfg, md.Name
	b.link = link.New(b.life.Context())
	pub, err := b.connect(ctx, randomID(b.clientBase()+"-pub"), true, func(mqtt.Client) { b.link.Renew() }, func(mqtt.Client, error) { b.link.Drop() })
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.pub = pub
	return nil
}

// clientBase starts every client id: consumerID, or the component name.
func (b *Broker) clientBase() string {
	if b.md.ConsumerID != "" {
		return b.md.ConsumerID
	}
	return b.name
}

func randomID(base string) string {
	r := make([]byte, 6)
	_, _ = rand.Read(r)
	return base + "-" + hex.EncodeToString(r)
}

// connect opens a client; onConnect runs on every (re)connection.
func (b *Broker) connect(ctx context.Context, id string, clean bool, onConnect func(mqtt.Client), onLost func(mqtt.Client, error)) (mqtt.Client, error) {
	return mqttconn.Connect(ctx, mqttconn.Options{URL: b.md.URL, ClientID: id, Clean: clean, TLS: b.tls, OnConnect: onConnect, OnLost: onLost})
}

// Features reports wildcard subscriptions.
func (b *Broker) Features() []pubsub.Feature {
	return []pubsub.Feature{pubsub.FeatureSubscribeWildcards}
}

// Publish sends the message and, with qos 1 or 2, waits for the broker's
// acknowledgement.
func (b *Broker) Publish(ctx context.Context, req *pubsub.PublishRequest) error {
	if err := pubsub.CheckRequest(req.Topic, "", false); err != nil {
		return err
	}
	if strings.ContainsAny(req.Topic, "+#") {
		return fmt.Errorf("%w: topic %q: a publish cannot name wildcards", pubsub.ErrInvalidRequest, req.Topic)
	}
	if b.life.Ended() || b.pub == nil {
		return fmt.Errorf("publish to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	retain := b.md.Retain
	if v := req.Metadata["retain"]; v != "" {
		r, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: metadata retain %q: true or false", pubsub.ErrInvalidRequest, v)
		}
		retain = r
	}
	// A publish while the connection is down would wait in the client
	// for the reconnection: fail it now instead.
	if !b.pub.IsConnectionOpen() {
		return fmt.Errorf("publish to %q: the connection to the MQTT broker at %s is down", req.Topic, b.broker)
	}
	ctx, cancel := lifetime.Bounded(ctx, publishWait)
	defer cancel()
	ctx, done := b.link.Bind(ctx)
	defer done()
	if err := mqttconn.Await(ctx, b.pub.Publish(req.Topic, b.md.QoS, retain, req.Data)); err != nil {
		return fmt.Errorf("publish to %q on the MQTT broker at %s: %w", req.Topic, b.broker, link.Err(ctx, err))
	}
	return nil
}

// Subscribe connects the subscription's client and subscribes to the
// group's shared subscription of the topic; it returns once the broker
// has acknowledged the subscription.
func (b *Broker) Subscribe(ctx context.Context, req pubsub.SubscribeRequest, h pubsub.Handler) error {
	if err := pubsub.CheckRequest(req.Topic, req.Group, true); err != nil {
		return err
	}
	if strings.ContainsAny(req.Group, "/+#") {
		return fmt.Errorf("%w: consumer group %q: MQTT share names cannot hold / + #", pubsub.ErrInvalidRequest, req.Group)
	}
	if b.life.Ended() || b.pub == nil {
		return fmt.Errorf("subscribe to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	subCtx, release := b.life.Subscription(ctx)
	var inflight sync.WaitGroup
	var mu sync.Mutex // guards ended against inflight.Add
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
		b.deliver(subCtx, m, h)
	}
	filter := "$share/" + req.Group + "/" + req.Topic
	id, clean := randomID(req.Group), true
	if b.md.ConsumerID != "" {
		id, clean = SessionClientID(b.md.ConsumerID, req.Group, req.Topic), b.md.CleanSession
	}
	// Subscribe again on every reconnection: a clean session forgets its
	// subscriptions.
	resubscribe := func(c mqtt.Client) {
		if subCtx.Err() == nil {
			c.Subscribe(filter, b.md.QoS, onMessage)
		}
	}
	c, err := b.connect(ctx, id, clean, resubscribe, nil)
	if err == nil {
		// The first subscription, waited for so that Subscribe returns
		// once it holds.
		if err = mqttconn.Await(ctx, c.Subscribe(filter, b.md.QoS, onMessage)); err != nil {
			c.Disconnect(0)
			err = fmt.Errorf("subscribe on the MQTT broker at %s: %w", b.broker, err)
		}
	}
	if err != nil {
		release()
		return fmt.Errorf("subscribe group %q to %q: %w", req.Group, req.Topic, err)
	}
	b.life.Go(func() {
		defer release()
		<-subCtx.Done()
		mu.Lock()
		ended = true
		mu.Unlock()
		inflight.Wait()
		c.Disconnect(250)
	})
	return nil
}

// SessionClientID is the client id of a subscription when consumerID is
// set: stable, so its session outlives the process, and one per group and
// topic.
func SessionClientID(consumerID, group, topic string) string {
	sum := sha256.Sum256([]byte(group + "\x00" + topic))
	return consumerID + "-" + hex.EncodeToString(sum[:6])
}

// deliver hands m to h until it answers Ack or Drop, then acknowledges it.
// When the subscription ends first, m stays unacknowledged: a kept session
// gets it again.
func (b *Broker) deliver(ctx context.Context, m mqtt.Message, h pubsub.Handler) {
	msg := &pubsub.Message{Topic: m.Topic(), Data: m.Payload(), Metadata: map[string]string{"retained": strconv.FormatBool(m.Retained())}}
	for {
		if res := h(ctx, msg); res == pubsub.Ack || res == pubsub.Drop {
			m.Ack()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryPause):
		}
	}
}

// Close ends every subscription, waits for running handlers and
// disconnects.
func (b *Broker) Close() error {
	b.life.End(func() {
		if b.pub != nil {
			b.pub.Disconnect(250)
		}
	})
	return nil
}
