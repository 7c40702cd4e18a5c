// Package rabbitmq is the bindings.rabbitmq binding, as Dapr's: output
// create publishes to the queueName queue through the default exchange;
// input consumes that queue, acknowledging a message once the app took it
// and requeueing it when the app failed it.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
)

// Type is the component type this package registers.
const Type = "bindings.rabbitmq"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ bindings.Output = (*Binding)(nil)
	_ bindings.Input  = (*Binding)(nil)
)

// metadata is the component's metadata as Dapr's RabbitMQ binding names it.
type metadata struct {
	bindings.RuntimeMetadata

	Host             string `metadata:"host"`
	QueueName        string `metadata:"queueName"`
	Exclusive        bool   `metadata:"exclusive"`
	Durable          bool   `metadata:"durable"`
	DeleteWhenUnused bool   `metadata:"deleteWhenUnused"`
	PrefetchCount    int    `metadata:"prefetchCount"`
	MaxPriority      string `metadata:"maxPriority"`
	TTL              string `metadata:"ttlInSeconds,ttl"`
	ReconnectWait    int    `metadata:"reconnectWaitInSeconds"`
}

// Binding is the RabbitMQ binding.
type Binding struct {
	md   metadata
	args amqp.Table // the queue's arguments: x-message-ttl, x-max-priority
	addr string     // host:port, for messages (no credentials)
	wait time.Duration

	mu     sync.Mutex
	conn   *amqp.Connection
	pub    *amqp.Channel
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup // readers
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{done: make(chan struct{})} }

// Init reads the metadata, connects and declares the queue.
func (b *Binding) Init(_ context.Context, md components.Metadata) error {
	m := metadata{ReconnectWait: 5}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	if m.Host == "" {
		errs = append(errs, errors.New("metadata host is required: an AMQP URI such as amqp://guest:guest@localhost:5672"))
	} else if u, err := amqp.ParseURI(m.Host); err != nil {
		errs = append(errs, fmt.Errorf("metadata host: %w", err))
	} else {
		b.addr = fmt.Sprintf("%s:%d", u.Host, u.Port)
	}
	if m.QueueName == "" {
		errs = append(errs, errors.New("metadata queueName is required"))
	}
	b.args = amqp.Table{}
	if m.MaxPriority != "" {
		n, err := strconv.ParseUint(m.MaxPriority, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata maxPriority %q: a whole number from 0 to 255", m.MaxPriority))
		}
		b.args["x-max-priority"] = uint8(min(n, math.MaxUint8))
	}
	if ttl, ok, err := bindings.TTL(map[string]string{"ttlInSeconds": m.TTL}); err != nil {
		errs = append(errs, fmt.Errorf("metadata %w", err))
	} else if ok {
		b.args["x-message-ttl"] = int(ttl / time.Millisecond)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.md, b.wait = m, time.Duration(m.ReconnectWait)*time.Second
	if _, err := b.channel(); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	return nil
}

// connection returns the open connection, dialling again when it closed.
// b.mu is held.
func (b *Binding) connection() (*amqp.Connection, error) {
	if b.closed {
		return nil, errors.New("binding is closed")
	}
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	conn, err := amqp.DialConfig(b.md.Host, amqp.Config{Heartbeat: 10 * time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("cannot reach RabbitMQ at %s: %w", b.addr, err)
	}
	b.conn, b.pub = conn, nil
	return conn, nil
}

// channel returns the publishing channel, the queue declared on it.
func (b *Binding) channel() (*amqp.Channel, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pub != nil && !b.pub.IsClosed() {
		return b.pub, nil
	}
	ch, err := b.open()
	if err != nil {
		return nil, err
	}
	b.pub = ch
	return ch, nil
}

// open opens a channel with the queue declared and prefetchCount set, as
// Dapr declares it. b.mu is held.
func (b *Binding) open() (*amqp.Channel, error) {
	conn, err := b.connection()
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open a channel to RabbitMQ at %s: %w", b.addr, err)
	}
	if err := ch.Qos(b.md.PrefetchCount, 0, false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("set prefetchCount: %w", err)
	}
	if _, err := ch.QueueDeclare(b.md.QueueName, b.md.Durable, b.md.DeleteWhenUnused, b.md.Exclusive, false, b.args); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("declare queue %q: %w", b.md.QueueName, err)
	}
	return ch, nil
}

// Operations is Dapr's: create.
func (b *Binding) Operations() []string { return []string{bindings.OperationCreate} }

// Invoke publishes the data to the queue, persistent, as text/plain unless
// the contentType metadata says otherwise; the request's metadata goes as
// headers, ttlInSeconds as the message's expiration, priority as its
// priority, messageID, correlationID and type as those properties.
func (b *Binding) Invoke(ctx context.Context, req *bindings.Request) (*bindings.Response, error) {
	pub := amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain", Body: req.Data, Headers: amqp.Table{}}
	for k, v := range req.Metadata {
		pub.Headers[k] = v
	}
	ttl, ok, err := bindings.TTL(req.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", bindings.ErrInvalid, err)
	}
	if ok {
		pub.Expiration = strconv.FormatInt(ttl.Milliseconds(), 10)
	}
	if v := req.Metadata["priority"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata priority %q: a whole number from 0 to 255", bindings.ErrInvalid, v)
		}
		pub.Priority = uint8(min(max(n, 0), math.MaxUint8))
	}
	for k, set := range map[string]*string{"contentType": &pub.ContentType, "messageID": &pub.MessageId, "correlationID": &pub.CorrelationId, "type": &pub.Type} {
		if v := req.Metadata[k]; v != "" {
			*set = v
		}
	}
	ch, err := b.channel()
	if err != nil {
		return nil, err
	}
	if err := ch.PublishWithContext(ctx, "", b.md.QueueName, false, false, pub); err != nil {
		return nil, fmt.Errorf("failed to publish message: %w", err)
	}
	return nil, nil
}

// Read consumes the queue on a channel of its own until ctx ends or the
// binding closes, opening it again after reconnectWaitInSeconds when it
// closes. A message the handler fails is requeued; one it was handling
// when reading ended goes back to the queue with the channel.
func (b *Binding) Read(ctx context.Context, h bindings.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, err := b.open()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer cancel()
		for {
			if ch != nil {
				b.consume(ctx, ch, h)
				_ = ch.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-b.done:
				return
			case <-time.After(b.wait):
			}
			b.mu.Lock()
			ch, err = b.open()
			b.mu.Unlock()
			if err != nil {
				ch = nil
			}
		}
	}()
	return nil
}

// consume hands the channel's deliveries to h until ctx ends, the binding
// closes or the channel does.
func (b *Binding) consume(ctx context.Context, ch *amqp.Channel, h bindings.Handler) {
	msgs, err := ch.Consume(b.md.QueueName, "", false, b.md.Exclusive, false, false, nil)
	if err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.done:
			return
		case d, ok := <-msgs:
			if !ok {
				return
			}
			md := make(map[string]string, len(d.Headers))
			for k, v := range d.Headers {
				if s, ok := v.(string); ok {
					md[url.QueryEscape(k)] = s
				}
			}
			if _, err := h(ctx, &bindings.Event{Data: d.Body, Metadata: md}); err != nil {
				_ = d.Nack(false, true)
			} else {
				_ = d.Ack(false)
			}
		}
	}
}

// Close stops every reader and closes the connection.
func (b *Binding) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	b.mu.Unlock()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return b.conn.Close()
	}
	return nil
}
