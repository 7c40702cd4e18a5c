// Package rabbitmq is the pubsub.rabbitmq broker on
// github.com/rabbitmq/amqp091-go, in daprd's layout and with its metadata
// keys: a topic is an exchange (exchangeKind, fanout by default), a
// consumer group a queue named "<group>-<topic>" (or the subscription's
// queueName) bound to it, so the subscribers of a group compete for its
// messages and each group gets every one.
//
// A publish is acknowledged once RabbitMQ confirms it (cove always uses
// publisher confirms: daprd's publisherConfirm is accepted and implied).
// deliveryMode 2 makes messages persistent; durable and deletedWhenUnused
// apply to exchanges and queues as in daprd, whose default of
// deletedWhenUnused true deletes a group's queue, and what it holds, when
// its last subscriber leaves. ttlInSeconds (the component's default, or the
// publish metadata's) becomes the message expiration, so RabbitMQ drops
// expired messages itself (MESSAGE_TTL). Publish metadata travels as
// message headers; contentType, messageID, correlationID, type and priority
// set the message properties as in daprd.
//
// Ack acks; Drop rejects without requeueing (to the dead-letter queue
// "dlq-<queue>" when enableDeadLetter is set); Retry rejects with requeue
// only when requeueInFailure is set, as in daprd: otherwise the message
// goes where a dropped one goes. A subscriber that goes away leaves its
// unacknowledged messages to RabbitMQ, which requeues them. As in Dapr, a
// subscription handles its messages in parallel, each as it comes;
// concurrencyMode (or cove's older concurrency key) "single" handles one
// at a time, in queue order. prefetchCount bounds the unacknowledged
// messages a subscription holds.
//
// A dropped connection is reopened on the next publish, and subscriptions
// resubscribe after reconnectWaitSeconds.
//
// It imports only the components registry and the pub/sub interface.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/lifetime"
)

// Type is the component type this package registers.
const Type = "pubsub.rabbitmq"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ pubsub.PubSub = (*Broker)(nil)

// metadata is the component's metadata as Dapr's RabbitMQ pub/sub names it.
type metadata struct {
	pubsub.RuntimeMetadata

	ConnectionString string `metadata:"connectionString,host"`
	Protocol         string `metadata:"protocol"`
	Hostname         string `metadata:"hostname"`
	Username         string `metadata:"username"`
	Password         string `metadata:"password"`

	Durable           bool          `metadata:"durable"`
	EnableDeadLetter  bool          `metadata:"enableDeadLetter"`
	DeletedWhenUnused bool          `metadata:"deletedWhenUnused"`
	AutoAck           bool          `metadata:"autoAck"`
	RequeueInFailure  bool          `metadata:"requeueInFailure"`
	DeliveryMode      uint8         `metadata:"deliveryMode"`
	PrefetchCount     uint16        `metadata:"prefetchCount"`
	ReconnectWait     time.Duration `metadata:"reconnectWaitSeconds"`
	MaxLen            int64         `metadata:"maxLen"`
	MaxLenBytes       int64         `metadata:"maxLenBytes"`
	ExchangeKind      string        `metadata:"exchangeKind"`
	ClientName        string        `metadata:"clientName"`
	HeartBeat         time.Duration `metadata:"heartBeat"`
	PublisherConfirm  bool          `metadata:"publisherConfirm"`
	Concurrency       string        `metadata:"concurrency"`
	ConcurrencyMode   string        `metadata:"concurrencyMode"` // Dapr's shared key; wins
	TTLInSeconds      *int64        `metadata:"ttlInSeconds"`

	parallel bool // from concurrencyMode or concurrency
}

func parseMetadata(md components.Metadata) (metadata, string, error) {
	m := metadata{
		Hostname: "localhost", Durable: true, DeletedWhenUnused: true,
		ReconnectWait: 3 * time.Second, ExchangeKind: amqp.ExchangeFanout, HeartBeat: 10 * time.Second,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	uri := m.ConnectionString
	if uri == "" {
		proto := m.Protocol
		if proto == "" {
			proto = "amqp"
		}
		u := url.URL{Scheme: proto, Host: m.Hostname}
		if m.Username != "" {
			u.User = url.UserPassword(m.Username, m.Password)
		}
		uri = u.String()
	}
	if parsed, err := amqp.ParseURI(uri); err != nil {
		errs = append(errs, fmt.Errorf("metadata connectionString: %w", err))
	} else if m.Protocol != "" && parsed.Scheme != m.Protocol {
		errs = append(errs, fmt.Errorf("metadata protocol %q does not match the connection string's %q", m.Protocol, parsed.Scheme))
	}
	if m.DeliveryMode > 2 {
		errs = append(errs, fmt.Errorf("metadata deliveryMode %d: use 0 or 1 (transient) or 2 (persistent)", m.DeliveryMode))
	}
	switch m.ExchangeKind {
	case amqp.ExchangeFanout, amqp.ExchangeTopic, amqp.ExchangeDirect, amqp.ExchangeHeaders:
	default:
		errs = append(errs, fmt.Errorf("metadata exchangeKind %q: use fanout, topic, direct or headers", m.ExchangeKind))
	}
	m.parallel, err = pubsub.Parallel(m.ConcurrencyMode, m.Concurrency, true)
	errs = append(errs, err)
	if m.AutoAck {
		errs = append(errs, errors.New("metadata autoAck: cove acknowledges each message after its handler, so Retry and a subscriber that goes away redeliver; remove autoAck"))
	}
	if m.TTLInSeconds != nil && *m.TTLInSeconds < 0 {
		errs = append(errs, fmt.Errorf("metadata ttlInSeconds %d: must not be negative", *m.TTLInSeconds))
	}
	return m, uri, errors.Join(errs...)
}

// Broker is the RabbitMQ broker. The zero value is not usable; call New.
type Broker struct {
	md   metadata
	uri  string
	addr string // host:port, for messages (no credentials)
	log  *slog.Logger

	mu      sync.Mutex
	conn    *amqp.Connection
	pubs    []*amqp.Channel // idle confirm-mode channels
	ensured map[string]bool // exchanges declared on conn

	life *lifetime.Lifetime
}

// New returns an uninitialised broker.
func New() *Broker {
	return &Broker{life: lifetime.New(), log: slog.Default()}
}

// Init reads the metadata and connects.
func (b *Broker) Init(_ context.Context, md components.Metadata) error {
	b.log = slog.Default().With("component", md.Name, "type", Type)
	m, uri, err := parseMetadata(md)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.md, b.uri = m, uri
	if u, err := amqp.ParseURI(uri); err == nil {
		b.addr = fmt.Sprintf("%s:%d", u.Host, u.Port)
	}
	if _, err := b.connection(); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	return nil
}

// Features reports that RabbitMQ expires messages by their TTL itself.
func (b *Broker) Features() []pubsub.Feature {
	return []pubsub.Feature{pubsub.FeatureMessageTTL}
}

// connection returns the open connection, dialling a new one when the last
// one closed.
func (b *Broker) connection() (*amqp.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.life.Ended() {
		return nil, pubsub.ErrClosed
	}
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	props := amqp.NewConnectionProperties()
	if b.md.ClientName != "" {
		props.SetClientConnectionName(b.md.ClientName)
	}
	conn, err := amqp.DialConfig(b.uri, amqp.Config{Heartbeat: b.md.HeartBeat, Properties: props, Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("cannot reach RabbitMQ at %s: %w", b.addr, err)
	}
	b.conn, b.pubs, b.ensured = conn, nil, map[string]bool{}
	return conn, nil
}

// pubChannel returns an idle confirm-mode channel of the current
// connection.
func (b *Broker) pubChannel() (*amqp.Channel, error) {
	conn, err := b.connection()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	for len(b.pubs) > 0 {
		ch := b.pubs[len(b.pubs)-1]
		b.pubs = b.pubs[:len(b.pubs)-1]
		if !ch.IsClosed() {
			b.mu.Unlock()
			return ch, nil
		}
	}
	b.mu.Unlock()
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open a channel to RabbitMQ at %s: %w", b.addr, err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("put a channel to RabbitMQ at %s in confirm mode: %w", b.addr, err)
	}
	return ch, nil
}

func (b *Broker) putChannel(ch *amqp.Channel) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.life.Ended() && !ch.IsClosed() && len(b.pubs) < 16 {
		b.pubs = append(b.pubs, ch)
		return
	}
	_ = ch.Close()
}

// ensureExchange declares the topic's exchange once per connection.
func (b *Broker) ensureExchange(ch *amqp.Channel, name, kind string) error {
	b.mu.Lock()
	done := b.ensured[name]
	b.mu.Unlock()
	if done {
		return nil
	}
	if err := ch.ExchangeDeclare(name, kind, b.md.Durable, b.md.DeletedWhenUnused, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %q: %w", name, err)
	}
	b.mu.Lock()
	b.ensured[name] = true
	b.mu.Unlock()
	return nil
}

// Publish sends the message to the topic's exchange and waits for
// RabbitMQ's confirm.
func (b *Broker) Publish(ctx context.Context, req *pubsub.PublishRequest) error {
	if err := pubsub.CheckRequest(req.Topic, "", false); err != nil {
		return err
	}
	if b.life.Ended() {
		return fmt.Errorf("publish to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	p, err := b.publishing(req)
	if err != nil {
		return err
	}
	err = b.publish(ctx, req.Topic, req.Metadata["routingKey"], p)
	if errors.Is(err, errChannelClosed) && ctx.Err() == nil {
		// The channel closed under the publish: most often RabbitMQ
		// refused an exchange it had auto-deleted (deletedWhenUnused)
		// since it was declared here. Declare it again and retry once; an
		// at-least-once publish may repeat a message.
		b.forgetExchange(req.Topic)
		err = b.publish(ctx, req.Topic, req.Metadata["routingKey"], p)
	}
	if err != nil {
		return fmt.Errorf("publish to %q on RabbitMQ at %s: %w", req.Topic, b.addr, err)
	}
	return nil
}

// errChannelClosed: the channel closed before RabbitMQ confirmed a
// publish.
var errChannelClosed = errors.New("the connection closed before RabbitMQ confirmed the message")

func (b *Broker) forgetExchange(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.ensured, name)
}

func (b *Broker) publish(ctx context.Context, topic, key string, p amqp.Publishing) error {
	ch, err := b.pubChannel()
	if err != nil {
		return err
	}
	if err := b.ensureExchange(ch, topic, b.md.ExchangeKind); err != nil {
		_ = ch.Close()
		return err
	}
	ctx, cancel := lifetime.Bounded(ctx, 10*time.Second)
	defer cancel()
	conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, topic, key, false, false, p)
	if err != nil {
		_ = ch.Close()
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err != nil {
		_ = ch.Close()
		return fmt.Errorf("no confirm: %w", err)
	}
	if !ok {
		if ch.IsClosed() {
			return errChannelClosed
		}
		b.putChannel(ch)
		return errors.New("RabbitMQ refused the message (nack)")
	}
	b.putChannel(ch)
	return nil
}

// publishing builds the AMQP message: properties from Dapr's metadata
// keys, the rest as headers.
func (b *Broker) publishing(req *pubsub.PublishRequest) (amqp.Publishing, error) {
	p := amqp.Publishing{
		ContentType: req.ContentType, Body: req.Data, DeliveryMode: b.md.DeliveryMode, Timestamp: time.Now(),
	}
	if p.ContentType == "" {
		p.ContentType = "text/plain"
	}
	if b.md.TTLInSeconds != nil {
		p.Expiration = strconv.FormatInt(*b.md.TTLInSeconds*1000, 10)
	}
	for k, v := range req.Metadata {
		switch strings.ToLower(k) {
		case "ttlinseconds":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < -1 {
				return p, fmt.Errorf("%w: metadata ttlInSeconds %q: a whole number of seconds", pubsub.ErrInvalidRequest, v)
			}
			if n >= 0 {
				p.Expiration = strconv.FormatInt(n*1000, 10)
			}
			continue
		case "priority":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return p, fmt.Errorf("%w: metadata priority %q: a number from 0 to 255", pubsub.ErrInvalidRequest, v)
			}
			p.Priority = uint8(n)
		case "contenttype":
			p.ContentType = v
		case "messageid":
			p.MessageId = v
		case "correlationid":
			p.CorrelationId = v
		case "type":
			p.Type = v
		}
		if p.Headers == nil {
			p.Headers = amqp.Table{}
		}
		p.Headers[k] = v
	}
	return p, nil
}

// Subscribe declares the group's queue, binds it and starts consuming; a
// dropped connection resubscribes after reconnectWaitSeconds.
func (b *Broker) Subscribe(ctx context.Context, req pubsub.SubscribeRequest, h pubsub.Handler) error {
	if err := pubsub.CheckRequest(req.Topic, req.Group, true); err != nil {
		return err
	}
	if b.life.Ended() {
		return fmt.Errorf("subscribe to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	s := &subscription{b: b, req: req, h: h, queue: req.Metadata["queueName"]}
	if s.queue == "" {
		s.queue = req.Group + "-" + req.Topic
	}
	subCtx, release := b.life.Subscription(ctx)
	deliveries, ch, err := s.setup()
	if err != nil {
		release()
		return fmt.Errorf("subscribe group %q to %q on RabbitMQ at %s: %w", req.Group, req.Topic, b.addr, err)
	}
	b.life.Go(func() {
		defer release()
		s.run(subCtx, deliveries, ch)
	})
	return nil
}

// subscription is one Subscribe's state.
type subscription struct {
	b     *Broker
	req   pubsub.SubscribeRequest
	h     pubsub.Handler
	queue string
}

// setup declares the queue (and its dead-letter queue) on a new channel,
// binds it to the topic's exchange and starts consuming.
func (s *subscription) setup() (<-chan amqp.Delivery, *amqp.Channel, error) {
	b := s.b
	conn, err := b.connection()
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (<-chan amqp.Delivery, *amqp.Channel, error) {
		_ = ch.Close()
		return nil, nil, err
	}
	if err := ch.ExchangeDeclare(s.req.Topic, b.md.ExchangeKind, b.md.Durable, b.md.DeletedWhenUnused, false, false, nil); err != nil {
		return fail(fmt.Errorf("declare exchange %q: %w", s.req.Topic, err))
	}
	args := amqp.Table{}
	if b.md.EnableDeadLetter {
		dlx, dlq := "dlx-"+s.queue, "dlq-"+s.queue
		if err := ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, true, b.md.DeletedWhenUnused, false, false, nil); err != nil {
			return fail(fmt.Errorf("declare dead-letter exchange %q: %w", dlx, err))
		}
		if _, err := ch.QueueDeclare(dlq, true, b.md.DeletedWhenUnused, false, false, b.lengthArgs(amqp.Table{})); err != nil {
			return fail(fmt.Errorf("declare dead-letter queue %q: %w", dlq, err))
		}
		if err := ch.QueueBind(dlq, "", dlx, false, nil); err != nil {
			return fail(fmt.Errorf("bind dead-letter queue %q: %w", dlq, err))
		}
		args["x-dead-letter-exchange"] = dlx
	}
	for _, k := range []string{"maxPriority", "x-max-priority", "x-max-length", "x-max-length-bytes"} {
		if v := s.req.Metadata[k]; v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fail(fmt.Errorf("%w: subscription metadata %s %q: a whole number", pubsub.ErrInvalidRequest, k, v))
			}
			if k == "maxPriority" {
				k = "x-max-priority"
			}
			args[k] = n
		}
	}
	if _, err := ch.QueueDeclare(s.queue, b.md.Durable, b.md.DeletedWhenUnused, false, false, b.lengthArgs(args)); err != nil {
		return fail(fmt.Errorf("declare queue %q: %w", s.queue, err))
	}
	if b.md.PrefetchCount > 0 {
		if err := ch.Qos(int(b.md.PrefetchCount), 0, false); err != nil {
			return fail(fmt.Errorf("set prefetchCount: %w", err))
		}
	}
	for _, key := range strings.Split(s.req.Metadata["routingKey"], ",") {
		if err := ch.QueueBind(s.queue, key, s.req.Topic, false, nil); err != nil {
			return fail(fmt.Errorf("bind queue %q to exchange %q: %w", s.queue, s.req.Topic, err))
		}
	}
	deliveries, err := ch.Consume(s.queue, "", false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consume queue %q: %w", s.queue, err))
	}
	return deliveries, ch, nil
}

func (b *Broker) lengthArgs(args amqp.Table) amqp.Table {
	if b.md.MaxLen > 0 {
		args["x-max-length"] = b.md.MaxLen
	}
	if b.md.MaxLenBytes > 0 {
		args["x-max-length-bytes"] = b.md.MaxLenBytes
	}
	return args
}

// run handles deliveries until ctx ends, setting the subscription up again
// when its channel closes.
func (s *subscription) run(ctx context.Context, deliveries <-chan amqp.Delivery, ch *amqp.Channel) {
	b := s.b
	parallel := b.md.parallel
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		s.consume(ctx, deliveries, parallel, &inflight)
		if ctx.Err() != nil {
			inflight.Wait()
			// Closing the channel hands what it still holds back to the
			// queue.
			_ = ch.Close()
			return
		}
		b.log.Warn("subscription channel closed; resubscribing", "topic", s.req.Topic, "queue", s.queue, "wait", b.md.ReconnectWait)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(b.md.ReconnectWait):
			}
			var err error
			if deliveries, ch, err = s.setup(); err == nil {
				break
			}
			b.log.Warn("resubscribing failed", "topic", s.req.Topic, "queue", s.queue, "err", err)
		}
	}
}

// consume handles deliveries until ctx ends or the channel closes.
func (s *subscription) consume(ctx context.Context, deliveries <-chan amqp.Delivery, parallel bool, inflight *sync.WaitGroup) {
	for {
		select {
		case <-ctx.Done():
			return
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			if !parallel {
				s.handle(ctx, d)
				continue
			}
			inflight.Add(1)
			go func() { defer inflight.Done(); s.handle(ctx, d) }()
		}
	}
}

func (s *subscription) handle(ctx context.Context, d amqp.Delivery) {
	msg := &pubsub.Message{Topic: s.req.Topic, Data: d.Body, ContentType: d.ContentType}
	for k, v := range d.Headers {
		if msg.Metadata == nil {
			msg.Metadata = map[string]string{}
		}
		msg.Metadata[k] = fmt.Sprint(v)
	}
	var err error
	switch s.h(ctx, msg) {
	case pubsub.Ack:
		err = d.Ack(false)
	case pubsub.Drop:
		err = d.Reject(false)
	default:
		if ctx.Err() != nil {
			// The subscriber is going away: leave the message to the
			// queue, as a crash would.
			err = d.Reject(true)
		} else {
			err = d.Reject(s.b.md.RequeueInFailure)
		}
	}
	if err != nil {
		s.b.log.Warn("answering a message failed; RabbitMQ requeues it when the channel closes", "topic", s.req.Topic, "err", err)
	}
}

// Close ends every subscription, waits for running handlers and closes
// the connection.
func (b *Broker) Close() error {
	b.life.End(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.conn != nil {
			_ = b.conn.Close()
		}
	})
	return nil
}
