package pubsub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	cpubsub "github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/resiliency"
)

// Verdict is the app's answer to a delivered event, as daprd reads it.
type Verdict int

// The app's answers.
const (
	// Success: 2xx with an empty body or status SUCCESS (gRPC: SUCCESS).
	Success Verdict = iota
	// Retry: status RETRY, an unknown status, any status but 2xx and 404,
	// or the app unreachable.
	Retry
	// Drop: status DROP or 404.
	Drop
)

// Delivery is one event on its way to the app.
type Delivery struct {
	Pubsub, Topic string
	// Path is the route the subscription's rules chose, without a
	// leading slash or with one, as the app gave it.
	Path string
	// Event is the CloudEvent's attributes, decoded from Data only when
	// something needs all of them (a routing rule, a gRPC app): nil until
	// Attributes decodes it.
	Event map[string]any
	// Data is the CloudEvent's JSON, the body an HTTP app receives.
	Data []byte
	// Metadata is the broker's metadata of the message (pubsubName
	// added), which HTTP apps receive as headers.
	Metadata map[string]string
	// head is what delivery reads of every event, from Data.
	head eventHead
}

// eventHead is the attributes every delivery reads (expiry, trace
// context, the id for the log): each one's JSON value, nil when the event
// has none. Reading only these costs a fraction of decoding the event.
type eventHead struct {
	id, expiration, traceID, traceParent, traceState []byte
}

// readHead reads the head attributes of a CloudEvent's valid JSON.
func readHead(data []byte) eventHead {
	var h eventHead
	for key, value := range members(data) {
		switch string(keyName(key)) {
		case fieldID:
			h.id = value
		case fieldExpiration:
			h.expiration = value
		case fieldTraceID:
			h.traceID = value
		case fieldTraceParent:
			h.traceParent = value
		case fieldTraceState:
			h.traceState = value
		}
	}
	return h
}

// Attributes returns the event's attributes, decoding Data the first
// time. Numbers decode as float64, as daprd decodes them, so CEL rules
// compare them with numbers.
func (d *Delivery) Attributes() (map[string]any, error) {
	if d.Event != nil {
		return d.Event, nil
	}
	var ev map[string]any
	if err := json.Unmarshal(d.Data, &ev); err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, errors.New("the event is null")
	}
	d.Event = ev
	return ev, nil
}

// id is the event's id, for the log.
func (d *Delivery) id() string {
	if s := stringValue(d.head.id); s != "" {
		return s
	}
	return string(d.head.id)
}

// expiration is the event's expiration attribute when it is a string.
func (d *Delivery) expiration() string { return stringValue(d.head.expiration) }

// traceContext is the event's traceparent (else its traceid) and
// tracestate, where they are strings.
func (d *Delivery) traceContext() (traceParent, traceState string) {
	traceParent = stringValue(d.head.traceParent)
	if traceParent == "" {
		traceParent = stringValue(d.head.traceID)
	}
	return traceParent, stringValue(d.head.traceState)
}

// lacksTrace tells whether the broker metadata md has a trace attribute
// the event lacks, which delivery fills in.
func (h *eventHead) lacksTrace(md map[string]string) bool {
	_, id := md[fieldTraceID]
	_, tp := md[fieldTraceParent]
	_, ts := md[fieldTraceState]
	return id && h.traceID == nil || tp && h.traceParent == nil || ts && h.traceState == nil
}

// AppChannel delivers events to the app behind one sidecar.
type AppChannel interface {
	// Deliver hands d to the app and returns its verdict; an error means
	// the app could not be asked (Retry).
	Deliver(ctx context.Context, d *Delivery) (Verdict, error)
}

// metadataPubsub is the broker metadata key daprd adds to every delivered
// message, which HTTP apps see as a header.
const metadataPubsub = "pubsubName"

// deadLetterTimeout bounds a publish to a dead-letter topic.
const deadLetterTimeout = 10 * time.Second

// Subscriber is the running subscriptions of one sidecar's app.
type Subscriber struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup // handlers running
	subs   []Subscription
	s      *Service // set for a streaming subscription, listed there until it stops
}

// Subscriptions lists what the subscriber subscribed, for the metadata API.
func (s *Subscriber) Subscriptions() []Subscription {
	if s == nil {
		return nil
	}
	return s.subs
}

// Stop ends the subscriptions and waits for deliveries in progress; a
// message they did not finish is delivered again by the broker.
func (s *Subscriber) Stop() {
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	if s.s != nil {
		s.s.mu.Lock()
		s.s.streams = slices.DeleteFunc(s.s.streams, func(o *Subscriber) bool { return o == s })
		s.s.mu.Unlock()
	}
}

// Streaming lists the streaming subscriptions open now, as daprd's
// metadata API lists them: each one, in the order they opened.
func (s *Service) Streaming() []Subscription {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Subscription
	for _, sub := range s.streams {
		out = append(out, sub.subs...)
	}
	return out
}

// Subscribe starts delivering the topics of subs to ch, each with the
// app's consumer group on its component. A subscription to a pub/sub the
// app does not have, or to a topic its subscriptionScopes do not allow, is
// logged and skipped, as daprd does; one the broker refuses fails the
// whole call, with the subscriptions made so far stopped.
func (s *Service) Subscribe(ctx context.Context, ch AppChannel, subs []Subscription) (*Subscriber, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sub := &Subscriber{cancel: cancel}
	for i := range subs {
		sc := subs[i]
		s.mu.RLock()
		e := s.brokers[sc.Pubsub]
		s.mu.RUnlock()
		if e == nil {
			s.log.Warn("subscription skipped: no pub/sub of that name", "pubsub", sc.Pubsub, "topic", sc.Topic)
			continue
		}
		if !e.scopes.subscribes(sc.Topic) {
			s.log.Warn("subscription skipped: the topic is not in the app's subscriptionScopes", "pubsub", sc.Pubsub, "topic", sc.Topic)
			continue
		}
		h := &handler{s: s, e: e, sub: &sc, ch: ch, wg: &sub.wg}
		handle := h.handle
		req := cpubsub.SubscribeRequest{Topic: sc.Topic, Group: e.group, Metadata: sc.Metadata}
		if sc.Bulk != nil {
			if bc, ok := ch.(BulkAppChannel); ok {
				handle = newBatcher(ctx, h, bc, sc.Bulk).handle
				req.Batch = sc.Bulk.MaxMessages
			} else {
				s.log.Warn("bulkSubscribe ignored: this subscriber takes events one by one", "pubsub", sc.Pubsub, "topic", sc.Topic)
			}
		}
		err := e.broker.Subscribe(ctx, req, handle)
		if err != nil {
			sub.Stop()
			return nil, fmt.Errorf("subscribe to topic %s of pub/sub %s: %w", sc.Topic, sc.Pubsub, err)
		}
		s.log.Debug("subscribed", "pubsub", sc.Pubsub, "topic", sc.Topic, "group", e.group)
		sub.subs = append(sub.subs, sc)
	}
	if len(sub.subs) > 0 && sub.subs[0].Type == TypeStreaming {
		sub.s = s
		s.mu.Lock()
		s.streams = append(s.streams, sub)
		s.mu.Unlock()
	}
	return sub, nil
}

// handler turns one subscription's messages into deliveries.
type handler struct {
	s   *Service
	e   *entry
	sub *Subscription
	ch  AppChannel
	wg  *sync.WaitGroup
}

func (h *handler) handle(ctx context.Context, msg *cpubsub.Message) cpubsub.Result {
	h.wg.Add(1)
	defer h.wg.Done()
	if ctx.Err() != nil {
		return cpubsub.Retry // stopping: another subscriber of the group takes it
	}
	var in ingress
	res := h.process(ctx, msg, &in)
	if m := h.s.metrics; m != nil && in.process != "" {
		m.PubsubIngress(h.s.metricsNamespace(), h.sub.Pubsub, in.process, in.status, h.sub.Topic, in.elapsed)
	}
	return res
}

// ingress is how a message was handled, as daprd's pub/sub ingress metrics
// label it: process_status success, retry or drop; status success when the
// app itself dropped it or no route took it; the delivery's duration.
type ingress struct {
	process, status string
	elapsed         time.Duration
}

// Process statuses of the ingress metrics.
const (
	ingressSuccess = "success"
	ingressRetry   = "retry"
	ingressDrop    = "drop"
)

// failed handles a message that cannot be delivered: to the dead-letter
// topic (a drop) when the subscription has one, else back to the broker.
func (h *handler) failed(ctx context.Context, msg *cpubsub.Message, in *ingress) cpubsub.Result {
	res := h.deadLetterOr(ctx, msg, cpubsub.Retry)
	in.process = ingressRetry
	if res == cpubsub.Ack {
		in.process = ingressDrop
	}
	return res
}

func (h *handler) process(ctx context.Context, msg *cpubsub.Message, in *ingress) cpubsub.Result {
	log := h.s.log.With("pubsub", h.sub.Pubsub, "topic", msg.Topic)
	d, err := h.delivery(msg)
	if err != nil {
		log.Error("pub/sub event not delivered", "error", err)
		return h.failed(ctx, msg, in)
	}
	if expired(d.expiration(), h.s.now()) {
		log.Warn("expired pub/sub event dropped", "id", d.id(), "expiration", d.expiration())
		in.process = ingressDrop
		return h.deadLetterOr(ctx, msg, cpubsub.Ack)
	}
	path, ok, err := h.sub.route(d)
	if err != nil {
		log.Error("pub/sub event not routed", "id", d.id(), "error", err)
		return h.failed(ctx, msg, in)
	}
	if !ok {
		log.Debug("pub/sub event matches no route; skipped", "id", d.id())
		in.process, in.status = ingressDrop, ingressSuccess
		return h.deadLetterOr(ctx, msg, cpubsub.Ack)
	}
	d.Path = path
	start := time.Now()
	verdict, err := h.deliver(ctx, d)
	in.elapsed = time.Since(start)
	return h.settle(ctx, msg, verdict, err, in)
}

// settle turns the app's answer to one event into the broker's verdict:
// success acks; a drop goes to the dead-letter topic when there is one;
// anything else is retried, or dead-lettered.
func (h *handler) settle(ctx context.Context, msg *cpubsub.Message, verdict Verdict, err error, in *ingress) cpubsub.Result {
	switch {
	case ctx.Err() != nil:
		return cpubsub.Retry
	case err == nil && verdict == Success:
		in.process = ingressSuccess
		return cpubsub.Ack
	case err == nil && verdict == Drop:
		h.s.log.Warn("pub/sub event dropped by the app", "pubsub", h.sub.Pubsub, "topic", msg.Topic)
		in.process, in.status = ingressDrop, ingressSuccess
		if h.sub.DeadLetterTopic == "" {
			return cpubsub.Drop
		}
		return h.deadLetterOr(ctx, msg, cpubsub.Retry)
	}
	if err != nil {
		h.s.log.Warn("pub/sub event not delivered; the broker delivers it again", "pubsub", h.sub.Pubsub, "topic", msg.Topic, "error", err)
	}
	return h.failed(ctx, msg, in)
}

// deliver asks the app under the component's inbound policy: a RETRY is
// an error the policy retries.
func (h *handler) deliver(ctx context.Context, d *Delivery) (Verdict, error) {
	if h.e.inbound == nil {
		return h.ch.Deliver(ctx, d)
	}
	return resiliency.Run(ctx, h.e.inbound, func(ctx context.Context) (Verdict, error) {
		v, err := h.ch.Deliver(ctx, d)
		if err == nil && v == Retry {
			err = errRetry
		}
		return v, err
	}, resiliency.RunOptions[Verdict]{})
}

var errRetry = errors.New("the app answered RETRY")

// deadLetterOr sends msg as it came to the subscription's dead-letter
// topic and acknowledges it; without one, or when that publish fails, it
// returns otherwise.
func (h *handler) deadLetterOr(ctx context.Context, msg *cpubsub.Message, otherwise cpubsub.Result) cpubsub.Result {
	if h.sub.DeadLetterTopic == "" || ctx.Err() != nil {
		return otherwise
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
	defer cancel()
	err := h.e.broker.Publish(dctx, &cpubsub.PublishRequest{
		Topic: h.sub.DeadLetterTopic, Data: msg.Data, ContentType: msg.ContentType, Metadata: msg.Metadata,
	})
	if err != nil {
		h.s.log.Warn("dead-letter publish failed", "pubsub", h.sub.Pubsub, "topic", h.sub.DeadLetterTopic, "error", err)
		if otherwise == cpubsub.Drop {
			return cpubsub.Retry
		}
		return otherwise
	}
	return cpubsub.Ack
}

// delivery reads a message as daprd does: a raw-payload subscription
// wraps the bytes in a new event; otherwise the message is a CloudEvent,
// whose trace context falls back to the broker metadata's.
func (h *handler) delivery(msg *cpubsub.Message) (*Delivery, error) {
	md := make(map[string]string, len(msg.Metadata)+2)
	for k, v := range msg.Metadata {
		md[k] = v
	}
	md[metadataPubsub] = h.sub.Pubsub
	d := &Delivery{Pubsub: h.sub.Pubsub, Topic: h.sub.Topic, Metadata: md}
	raw, err := rawPayload(h.sub.Metadata)
	if err != nil {
		return nil, err
	}
	if raw {
		ev := map[string]any{
			fieldID: uuid.NewString(), fieldSpecVersion: SpecVersion, fieldDataContentType: contentTypeBinary,
			fieldSource: defaultSource, fieldType: EventType, fieldTopic: h.sub.Topic, fieldPubsub: h.sub.Pubsub,
			fieldDataBase64: base64.StdEncoding.EncodeToString(msg.Data),
		}
		traceFromMetadata(ev, msg.Metadata, true)
		d.Event = ev
		if d.Data, err = json.Marshal(ev); err != nil {
			return nil, err
		}
		d.head = readHead(d.Data)
		return d, nil
	}
	// Only what every delivery needs is read here; the whole event is
	// decoded when a rule or the app's protocol needs it.
	if !json.Valid(msg.Data) || !isObject(msg.Data) {
		var ev map[string]any
		err := json.Unmarshal(msg.Data, &ev)
		return nil, fmt.Errorf("the message is not a CloudEvent (subscribe with metadata rawPayload to read raw messages): %v", err)
	}
	d.Data = msg.Data
	d.head = readHead(msg.Data)
	if d.head.lacksTrace(msg.Metadata) {
		ev, err := d.Attributes()
		if err != nil {
			return nil, fmt.Errorf("the message is not a CloudEvent (subscribe with metadata rawPayload to read raw messages): %v", err)
		}
		traceFromMetadata(ev, msg.Metadata, false)
		if d.Data, err = json.Marshal(ev); err != nil {
			return nil, err
		}
		d.head = readHead(d.Data)
	}
	return d, nil
}

// traceFromMetadata fills the event's trace attributes from the broker
// metadata: always for a raw payload, only where missing otherwise. It
// reports whether it changed the event.
func traceFromMetadata(ev map[string]any, md map[string]string, overwrite bool) bool {
	changed := false
	set := func(field, v string) {
		if _, has := ev[field]; overwrite || !has {
			ev[field] = v
			changed = true
		}
	}
	if v, ok := md[fieldTraceID]; ok {
		set(fieldTraceID, v)
	}
	if v, ok := md[fieldTraceParent]; ok {
		_, had := ev[fieldTraceParent]
		set(fieldTraceParent, v)
		if overwrite || !had {
			ev[fieldTraceID] = v // traceparent supersedes traceid
		}
	}
	if v, ok := md[fieldTraceState]; ok {
		set(fieldTraceState, v)
	}
	return changed
}

// routePath is the request path of a route: the app's path with one
// leading slash.
func routePath(p string) string { return "/" + strings.TrimLeft(p, "/") }
