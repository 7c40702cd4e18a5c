// Package jetstream is the pubsub.jetstream broker on NATS JetStream
// (github.com/nats-io/nats.go's jetstream package), with Dapr's metadata
// keys. A topic is a subject; a publish is acknowledged when JetStream has
// stored it (its PubAck), deduplicated by the CloudEvent id as daprd does.
// A consumer group is a durable pull consumer filtered on the topic, so
// the subscribers of one group compete for its messages and every group
// gets each of them.
//
// Where daprd needs the stream made beforehand, cove creates one when no
// stream holds the topic's subject (named after the topic, file storage or
// memoryStorage), so a fresh server works at once; streamName names an
// existing stream instead. Publish metadata travels as NATS headers and the
// content type as Content-Type; daprd ignores both.
//
// Retry naks the message (after ackWait when set, as daprd does), Drop
// terminates it (never redelivered), a subscriber that goes away without
// answering leaves it to come back after ackWait. maxDeliver bounds the
// deliveries. With concurrency (or concurrencyMode, which wins) "single"
// (Dapr's default for this broker) a subscription
// handles one message at a time, so a lone subscriber sees a topic in
// stream order while none is retried; "parallel" handles up to
// maxAckPending at once. A subscription whose handler batches (Batch)
// handles up to Batch at once also with "single", so a batch can fill,
// and gives up that order.
//
// Without natsURL the broker runs an embedded JetStream server storing
// under the component's directory; see embedded.go.
//
// It imports only the components registry and the pub/sub interface.
package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/lifetime"
	"github.com/cove-env/cove/internal/components/pubsub/link"
)

// Type is the component type this package registers.
const Type = "pubsub.jetstream"

// pullExpiry is how long one pull waits; the server's heartbeats come at
// half of it, so a consumer deleted without notice is missed within about
// that long.
const pullExpiry = 5 * time.Second

// publishTimeout bounds a publish whose context has no deadline.
const publishTimeout = 10 * time.Second

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ pubsub.PubSub        = (*Broker)(nil)
	_ pubsub.BulkPublisher = (*Broker)(nil)
)

// metadata is the component's metadata as Dapr's JetStream pub/sub names it.
type metadata struct {
	pubsub.RuntimeMetadata

	NatsURL       string `metadata:"natsURL"`
	Jwt           string `metadata:"jwt"`
	SeedKey       string `metadata:"seedKey"`
	Token         string `metadata:"token"`
	TLSClientCert string `metadata:"tls_client_cert"`
	TLSClientKey  string `metadata:"tls_client_key"`
	Name          string `metadata:"name"`

	StreamName     string        `metadata:"streamName"`
	DurableName    string        `metadata:"durableName"`
	QueueGroupName string        `metadata:"queueGroupName"`
	StartSequence  uint64        `metadata:"startSequence"`
	StartTime      *uint64       `metadata:"startTime"` // unix seconds
	FlowControl    bool          `metadata:"flowControl"`
	AckWait        time.Duration `metadata:"ackWait"`
	MaxDeliver     int           `metadata:"maxDeliver"`
	MaxAckPending  int           `metadata:"maxAckPending"`
	Replicas       int           `metadata:"replicas"`
	MemoryStorage  bool          `metadata:"memoryStorage"`
	RateLimit      uint64        `metadata:"rateLimit"`
	Heartbeat      time.Duration `metadata:"heartbeat"`
	DeliverPolicy  string        `metadata:"deliverPolicy"`
	AckPolicy      string        `metadata:"ackPolicy"`
	Domain         string        `metadata:"domain"`
	APIPrefix      string        `metadata:"apiPrefix"`
	Concurrency    string        `metadata:"concurrency"`
	// ConcurrencyMode is Dapr's shared key for concurrency; it wins.
	ConcurrencyMode string `metadata:"concurrencyMode"`

	embeddedMetadata
}

// settings is the checked metadata.
type settings struct {
	metadata
	deliver  jetstream.DeliverPolicy
	parallel bool
}

func parseSettings(md components.Metadata) (settings, error) {
	var s settings
	unknown, err := md.Decode(&s.metadata)
	md.WarnUnknown(unknown)
	errs := []error{err}
	if (s.Jwt == "") != (s.SeedKey == "") {
		errs = append(errs, errors.New("metadata jwt and seedKey must be given together"))
	}
	if (s.TLSClientCert == "") != (s.TLSClientKey == "") {
		errs = append(errs, errors.New("metadata tls_client_cert and tls_client_key must be given together"))
	}
	if s.Name == "" {
		s.Name = "cove - " + Type
	}
	switch strings.ToLower(s.DeliverPolicy) {
	case "", "all":
		s.deliver = jetstream.DeliverAllPolicy
	case "last":
		s.deliver = jetstream.DeliverLastPolicy
	case "new":
		s.deliver = jetstream.DeliverNewPolicy
	case "sequence":
		s.deliver = jetstream.DeliverByStartSequencePolicy
		if s.StartSequence == 0 {
			errs = append(errs, errors.New("metadata deliverPolicy sequence needs startSequence"))
		}
	case "time":
		s.deliver = jetstream.DeliverByStartTimePolicy
		if s.StartTime == nil {
			errs = append(errs, errors.New("metadata deliverPolicy time needs startTime (unix seconds)"))
		}
	default:
		errs = append(errs, fmt.Errorf("metadata deliverPolicy %q: use all, last, new, sequence or time", s.DeliverPolicy))
	}
	switch strings.ToLower(s.AckPolicy) {
	case "", "explicit":
	default:
		errs = append(errs, fmt.Errorf("metadata ackPolicy %q: cove acknowledges each message (explicit), so Retry and a subscriber that goes away redeliver", s.AckPolicy))
	}
	s.parallel, err = pubsub.Parallel(s.ConcurrencyMode, s.Concurrency, false)
	errs = append(errs, err)
	if s.MaxDeliver < -1 || s.MaxAckPending < -1 || s.Replicas < 0 {
		errs = append(errs, errors.New("metadata maxDeliver, maxAckPending and replicas: must not be negative"))
	}
	return s, errors.Join(errs...)
}

// Broker is the JetStream broker. The zero value is not usable; call New.
type Broker struct {
	s   settings
	nc  *nats.Conn
	js  jetstream.JetStream
	url string
	log *slog.Logger
	// embedded is the in-process server when natsURL is not given.
	embedded *embeddedServer

	life *lifetime.Lifetime

	streamMu sync.Mutex
	streams  map[string]string // topic → stream name

	// link fails publishes waiting for an acknowledgement when the
	// connection drops.
	link *link.Link
}

// New returns an uninitialised broker.
func New() *Broker {
	return &Broker{life: lifetime.New(), log: slog.Default(), streams: map[string]string{}}
}

// Init connects to natsURL, or starts the embedded server when it is not
// given.
func (b *Broker) Init(ctx context.Context, md components.Metadata) error {
	b.log = slog.Default().With("component", md.Name, "type", Type)
	s, err := parseSettings(md)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.s = s
	// No reconnect buffer: a publish while the server is away fails at
	// once instead of waiting for an acknowledgement that cannot come.
	b.link = link.New(b.life.Context())
	opts := []nats.Option{
		nats.Name(s.Name), nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { b.link.Drop() }),
		nats.ReconnectHandler(func(*nats.Conn) { b.link.Renew() }),
	}
	b.url = s.NatsURL
	connectURL := b.url
	if b.url == "" {
		b.embedded, err = startEmbedded(ctx, md, s.SyncAlways)
		if err != nil {
			return fmt.Errorf("%s %q: %w", Type, md.Name, err)
		}
		b.url, connectURL = b.embedded.desc, b.embedded.srv.ClientURL()
		opts = append(opts, nats.InProcessServer(b.embedded.srv))
	}
	switch {
	case s.Jwt != "":
		opts = append(opts, nats.UserJWTAndSeed(s.Jwt, s.SeedKey))
	case s.TLSClientCert != "":
		opts = append(opts, nats.ClientCert(s.TLSClientCert, s.TLSClientKey))
	case s.Token != "":
		opts = append(opts, nats.Token(s.Token))
	}
	nc, err := nats.Connect(connectURL, opts...)
	if err != nil {
		b.stopEmbedded()
		return fmt.Errorf("%s %q: cannot reach NATS at %s: %w", Type, md.Name, b.url, err)
	}
	js, err := newJetStream(nc, s)
	if err != nil {
		nc.Close()
		b.stopEmbedded()
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	// Fail now, naming the address, when the server has no JetStream.
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		b.stopEmbedded()
		return fmt.Errorf("%s %q: JetStream is not available at %s: %w", Type, md.Name, b.url, err)
	}
	b.nc, b.js = nc, js
	return nil
}

func newJetStream(nc *nats.Conn, s settings) (jetstream.JetStream, error) {
	switch {
	case s.Domain != "":
		return jetstream.NewWithDomain(nc, s.Domain)
	case s.APIPrefix != "":
		return jetstream.NewWithAPIPrefix(nc, s.APIPrefix)
	}
	return jetstream.New(nc)
}

// Features reports native bulk publish.
func (b *Broker) Features() []pubsub.Feature {
	return []pubsub.Feature{pubsub.FeatureBulkPublish}
}

func (b *Broker) closed() bool { return b.life.Ended() || b.js == nil }

// Publish stores the message and waits for JetStream's acknowledgement.
func (b *Broker) Publish(ctx context.Context, req *pubsub.PublishRequest) error {
	if err := pubsub.CheckRequest(req.Topic, "", false); err != nil {
		return err
	}
	if b.closed() {
		return fmt.Errorf("publish to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	ctx, cancel := lifetime.Bounded(ctx, publishTimeout)
	defer cancel()
	ctx, done := b.link.Bind(ctx)
	defer done()
	m, opts := message(req.Topic, req.Data, req.ContentType, req.Metadata)
	_, err := b.js.PublishMsg(ctx, m, opts...)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// No stream holds the subject (yet, or any more: deleted since):
		// make one and publish again.
		b.forgetStream(req.Topic)
		if _, serr := b.stream(ctx, req.Topic); serr != nil {
			return fmt.Errorf("publish to %q on NATS at %s: %w", req.Topic, b.url, serr)
		}
		_, err = b.js.PublishMsg(ctx, m, opts...)
	}
	if err != nil {
		if errors.Is(err, nats.ErrReconnectBufExceeded) {
			// What nats.go answers while reconnecting, as it buffers nothing.
			err = fmt.Errorf("the connection to the server is down: %w", err)
		}
		return fmt.Errorf("publish to %q on NATS at %s: %w", req.Topic, b.url, link.Err(ctx, err))
	}
	return nil
}

// BulkPublish sends every entry before waiting for the acknowledgements.
func (b *Broker) BulkPublish(ctx context.Context, req *pubsub.BulkPublishRequest) ([]pubsub.BulkPublishFailure, error) {
	if err := pubsub.CheckRequest(req.Topic, "", false); err != nil {
		return failAll(req.Entries, err), err
	}
	if b.closed() {
		err := fmt.Errorf("publish to %q: %w", req.Topic, pubsub.ErrClosed)
		return failAll(req.Entries, err), err
	}
	if _, err := b.stream(ctx, req.Topic); err != nil {
		err = fmt.Errorf("publish to %q on NATS at %s: %w", req.Topic, b.url, err)
		return failAll(req.Entries, err), err
	}
	ctx, done := b.link.Bind(ctx)
	defer done()
	all := make([]int, len(req.Entries))
	for i := range all {
		all[i] = i
	}
	errs := b.sendAll(ctx, req, all)
	var again []int
	for i, err := range errs {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		// The stream was deleted since it was made here: make it again
		// and resend what it refused.
		b.forgetStream(req.Topic)
		if _, err := b.stream(ctx, req.Topic); err == nil {
			for _, i := range again {
				delete(errs, i)
			}
			maps.Copy(errs, b.sendAll(ctx, req, again))
		}
	}
	if len(errs) == 0 {
		return nil, nil
	}
	failed := make([]pubsub.BulkPublishFailure, 0, len(errs))
	for i, e := range req.Entries {
		if err, ok := errs[i]; ok {
			failed = append(failed, pubsub.BulkPublishFailure{EntryID: e.EntryID, Err: err})
		}
	}
	return failed, fmt.Errorf("publish %d of %d messages to %q on NATS at %s: %w", len(failed), len(req.Entries), req.Topic, b.url, failed[0].Err)
}

// sendAll publishes the entries at idx asynchronously and waits for their
// acknowledgements, returning the error of each that failed.
func (b *Broker) sendAll(ctx context.Context, req *pubsub.BulkPublishRequest, idx []int) map[int]error {
	errs := map[int]error{}
	futures := map[int]jetstream.PubAckFuture{}
	for _, i := range idx {
		e := req.Entries[i]
		m, opts := message(req.Topic, e.Data, e.ContentType, pubsub.MergeMetadata(req.Metadata, e.Metadata))
		f, err := b.js.PublishMsgAsync(m, opts...)
		if err != nil {
			errs[i] = err
			continue
		}
		futures[i] = f
	}
	timeout := time.NewTimer(publishTimeout)
	defer timeout.Stop()
	expired := false
	for _, i := range idx {
		f, ok := futures[i]
		if !ok {
			continue
		}
		var err error
		if expired {
			select {
			case <-f.Ok():
			case err = <-f.Err():
			default:
				err = errors.New("no acknowledgement in time")
			}
		} else {
			select {
			case <-f.Ok():
			case err = <-f.Err():
			case <-ctx.Done():
				err = context.Cause(ctx)
			case <-timeout.C:
				err, expired = errors.New("no acknowledgement in time"), true
			}
		}
		if err != nil {
			errs[i] = err
		}
	}
	return errs
}

func failAll(entries []pubsub.BulkPublishEntry, err error) []pubsub.BulkPublishFailure {
	out := make([]pubsub.BulkPublishFailure, len(entries))
	for i, e := range entries {
		out[i] = pubsub.BulkPublishFailure{EntryID: e.EntryID, Err: err}
	}
	return out
}

// message builds the NATS message of a publish: metadata as headers, and
// the CloudEvent id, when the body is one, as the deduplication id, as
// daprd sets it.
func message(topic string, data []byte, contentType string, md map[string]string) (*nats.Msg, []jetstream.PublishOpt) {
	m := nats.NewMsg(topic)
	m.Data = data
	for k, v := range md {
		m.Header.Set(k, v)
	}
	if contentType != "" {
		m.Header.Set(contentTypeHeader, contentType)
	}
	var opts []jetstream.PublishOpt
	if len(data) > 0 && data[0] == '{' {
		var ce struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(data, &ce) == nil && ce.ID != "" {
			opts = append(opts, jetstream.WithMsgID(ce.ID))
		}
	}
	return m, opts
}

const contentTypeHeader = "Content-Type"

// stream returns the stream holding topic: streamName, the stream whose
// subjects match it, or one created for it.
func (b *Broker) stream(ctx context.Context, topic string) (string, error) {
	if b.s.StreamName != "" {
		return b.s.StreamName, nil
	}
	b.streamMu.Lock()
	defer b.streamMu.Unlock()
	if name, ok := b.streams[topic]; ok {
		return name, nil
	}
	name, err := b.js.StreamNameBySubject(ctx, topic)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		name = safeName(topic)
		storage := jetstream.FileStorage
		if b.s.MemoryStorage {
			storage = jetstream.MemoryStorage
		}
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{topic}, Storage: storage, Replicas: max(b.s.Replicas, 1),
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("find or create the stream of subject %q: %w", topic, err)
	}
	b.streams[topic] = name
	return name, nil
}

func (b *Broker) forgetStream(topic string) {
	b.streamMu.Lock()
	defer b.streamMu.Unlock()
	delete(b.streams, topic)
}

// safeName turns s into a JetStream stream or consumer name (or a
// directory name): s with what names cannot hold replaced, and a hash when
// anything was, so two names never meet.
func safeName(s string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
	if clean == s && len(s) <= 200 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	if len(clean) > 200 {
		clean = clean[:200]
	}
	return clean + "_" + hex.EncodeToString(sum[:4])
}

// consumerName is the durable consumer of a group on a topic: durableName
// (Dapr's key) or the group, with the topic, since one stream may hold
// several topics.
func (b *Broker) consumerName(group, topic string) string {
	base := group
	if b.s.DurableName != "" {
		base = b.s.DurableName
	}
	return safeName(base + "-" + topic)
}

// Subscribe creates (or updates) the group's durable consumer and starts
// consuming. When the consumer or its stream is deleted under it, the
// subscription makes them again and carries on.
func (b *Broker) Subscribe(ctx context.Context, req pubsub.SubscribeRequest, h pubsub.Handler) error {
	if err := pubsub.CheckRequest(req.Topic, req.Group, true); err != nil {
		return err
	}
	if b.closed() {
		return fmt.Errorf("subscribe to %q: %w", req.Topic, pubsub.ErrClosed)
	}
	subCtx, release := b.life.Subscription(ctx)
	sub := &subscription{b: b, req: req, h: h, ctx: subCtx, lost: make(chan struct{}, 1)}
	switch {
	case b.s.parallel:
		sub.sem = make(chan struct{}, max(b.s.MaxAckPending, 1000))
	case req.Batch > 1:
		// One at a time, a batching handler would get a batch of one
		// each time its wait ran out.
		sub.sem = make(chan struct{}, req.Batch)
	}
	cc, err := sub.start(ctx)
	if err != nil {
		release()
		return err
	}
	b.life.Go(func() {
		defer release()
		for {
			select {
			case <-subCtx.Done():
			case <-sub.lost:
				b.log.Warn("consumer gone; making it again", "topic", req.Topic, "group", req.Group)
				cc.Stop()
				<-cc.Closed()
				b.forgetStream(req.Topic)
				// Let a deletion in progress finish, or the consumer is
				// made again on the stream about to go.
				lifetime.Sleep(subCtx, time.Second)
				for subCtx.Err() == nil {
					next, err := sub.start(subCtx)
					if err == nil {
						cc = next
						break
					}
					b.log.Warn("making the consumer again failed", "topic", req.Topic, "group", req.Group, "err", err)
					lifetime.Sleep(subCtx, time.Second)
				}
				if subCtx.Err() == nil {
					continue
				}
			}
			if cc != nil {
				cc.Stop()
				<-cc.Closed()
			}
			sub.mu.Lock()
			sub.ended = true
			sub.mu.Unlock()
			sub.inflight.Wait()
			return
		}
	})
	return nil
}

// subscription is one Subscribe's state.
type subscription struct {
	b    *Broker
	req  pubsub.SubscribeRequest
	h    pubsub.Handler
	ctx  context.Context
	sem  chan struct{} // bounds parallel handlers; nil: one at a time
	lost chan struct{} // signalled when the consumer is gone

	mu       sync.Mutex // guards ended against inflight.Add
	ended    bool
	inflight sync.WaitGroup
}

// start finds or makes the stream, creates or updates the consumer and
// starts consuming it.
func (sub *subscription) start(ctx context.Context) (jetstream.ConsumeContext, error) {
	b, req, s := sub.b, sub.req, sub.b.s
	stream, err := b.stream(ctx, req.Topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %q on NATS at %s: %w", req.Topic, b.url, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable: b.consumerName(req.Group, req.Topic), FilterSubject: req.Topic,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: s.AckWait, MaxDeliver: s.MaxDeliver,
		DeliverPolicy: s.deliver, OptStartSeq: s.StartSequence, MaxAckPending: s.MaxAckPending,
		Replicas: s.Replicas, MemoryStorage: s.MemoryStorage, RateLimit: s.RateLimit,
	}
	if s.StartTime != nil {
		t := time.Unix(int64(*s.StartTime), 0) //nolint:gosec // unix seconds from metadata
		cfg.OptStartTime = &t
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %q of group %q on stream %q at %s: %w", cfg.Durable, req.Group, stream, b.url, err)
	}
	cc, err := cons.Consume(sub.receive, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if sub.ctx.Err() != nil {
			return
		}
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
			errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoHeartbeat) {
			select {
			case sub.lost <- struct{}{}:
			default:
			}
			return
		}
		b.log.Debug("consuming", "topic", req.Topic, "group", req.Group, "err", err)
	}), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return nil, fmt.Errorf("consume group %q on %q at %s: %w", req.Group, req.Topic, b.url, err)
	}
	return cc, nil
}

// receive hands a message to the handler, in line or (parallel) in a
// goroutine of its own.
func (sub *subscription) receive(m jetstream.Msg) {
	sub.mu.Lock()
	if sub.ended || sub.ctx.Err() != nil {
		sub.mu.Unlock()
		return // not handled: JetStream delivers it again after ackWait
	}
	sub.inflight.Add(1)
	sub.mu.Unlock()
	handle := func() {
		defer sub.inflight.Done()
		sub.b.handle(sub.ctx, sub.req.Topic, m, sub.h)
	}
	if sub.sem == nil {
		handle()
		return
	}
	sub.sem <- struct{}{}
	go func() { defer func() { <-sub.sem }(); handle() }()
}

func (b *Broker) handle(ctx context.Context, topic string, m jetstream.Msg, h pubsub.Handler) {
	msg := &pubsub.Message{Topic: topic, Data: m.Data()}
	for k, v := range m.Headers() {
		if len(v) == 0 || strings.HasPrefix(k, "Nats-") {
			continue
		}
		if k == contentTypeHeader {
			msg.ContentType = v[0]
			continue
		}
		if msg.Metadata == nil {
			msg.Metadata = map[string]string{}
		}
		msg.Metadata[k] = v[0]
	}
	var err error
	switch h(ctx, msg) {
	case pubsub.Ack:
		err = m.Ack()
	case pubsub.Drop:
		err = m.Term()
	default:
		if b.s.AckWait > 0 {
			err = m.NakWithDelay(b.s.AckWait)
		} else {
			err = m.Nak()
		}
	}
	if err != nil {
		b.log.Warn("answering a message failed; it will be delivered again", "topic", topic, "err", err)
	}
}

// Close ends every subscription, waits for running handlers and closes
// the connection (and the embedded server).
func (b *Broker) Close() error {
	b.life.End(func() {
		if b.nc != nil {
			// Flush acks and naks before the connection goes.
			_ = b.nc.FlushTimeout(2 * time.Second)
			b.nc.Close()
		}
		b.stopEmbedded()
	})
	return nil
}

func (b *Broker) stopEmbedded() {
	if b.embedded != nil {
		b.embedded.stop()
	}
}
