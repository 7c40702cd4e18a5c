package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/components"
	cpubsub "github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// Options configure a Service beyond its app id.
type Options struct {
	// Namespace replaces {namespace} in a component's consumerID.
	Namespace string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Outbound returns the resiliency policy for publishes to the named
	// component (nil for none); asked once per component, when added.
	Outbound func(pubsub string) *resiliency.Policy
	// Inbound returns the resiliency policy for deliveries from the named
	// component to the app (nil for none): a RETRY answer is retried under
	// it before the broker is told to redeliver.
	Inbound func(pubsub string) *resiliency.Policy
	// Metrics records daprd's pub/sub component metrics; nil records none.
	Metrics Recorder
	// Now defaults to time.Now; tests fix it.
	Now func() time.Time
}

// Recorder records daprd's pub/sub component metrics
// (*metrics.Sidecar does): a publish to a broker (egress) and a message
// handled for the app (ingress).
type Recorder interface {
	PubsubEgress(namespace, component, topic string, success bool, elapsed time.Duration)
	PubsubIngress(namespace, component, processStatus, status, topic string, elapsed time.Duration)
}

// ComponentInfo describes a loaded pub/sub component for the metadata API.
type ComponentInfo struct {
	Name, Type, Version string
	Capabilities        []string
}

// Service is one app's pub/sub API: its named brokers and their topic
// scopes. It is safe for concurrent use.
type Service struct {
	appID, namespace string
	log              *slog.Logger
	outbound         func(string) *resiliency.Policy
	inbound          func(string) *resiliency.Policy
	metrics          Recorder
	now              func() time.Time

	mu      sync.RWMutex
	brokers map[string]*entry
	// streams are the streaming subscriptions open now, in the order they
	// opened, for the metadata API.
	streams []*Subscriber
}

// entry is one added broker with what the app may do on it.
type entry struct {
	info    ComponentInfo
	broker  cpubsub.PubSub
	expires bool // the broker expires messages by ttlInSeconds itself
	scopes  topicScopes
	group   string             // the consumer group the app subscribes with
	policy  *resiliency.Policy // wraps every publish; nil for none
	inbound *resiliency.Policy // wraps every delivery; nil for none
}

// New returns a Service for appID with no brokers.
func New(appID string, opts Options) *Service {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		appID: appID, namespace: opts.Namespace, now: now, outbound: opts.Outbound, inbound: opts.Inbound, metrics: opts.Metrics,
		log:     log.With("app", appID, "block", "pubsub"),
		brokers: map[string]*entry{},
	}
}

// Add makes an initialised broker available under md.Name, with the topic
// scopes of md's metadata for this app. The broker stays the caller's:
// Close does not close it, so one broker may serve several apps.
func (s *Service) Add(md components.Metadata, broker cpubsub.PubSub) error {
	if md.Name == "" {
		return daprerr.New(daprerr.BadRequest, "a pub/sub component needs a name")
	}
	if broker == nil {
		return daprerr.New(daprerr.BadRequest, "pub/sub %s: no broker given", md.Name)
	}
	features := broker.Features()
	caps := make([]string, 0, len(features))
	for _, f := range features {
		caps = append(caps, string(f))
	}
	sort.Strings(caps)
	e := &entry{
		info:    ComponentInfo{Name: md.Name, Type: md.Type, Version: md.Version, Capabilities: caps},
		broker:  broker,
		expires: slices.Contains(features, cpubsub.FeatureMessageTTL),
		scopes:  scopesFor(s.appID, md.Properties),
		group:   s.consumerGroup(md),
	}
	if s.outbound != nil {
		e.policy = s.outbound(md.Name)
	}
	if s.inbound != nil {
		e.inbound = s.inbound(md.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.brokers[md.Name]; dup {
		return daprerr.New(daprerr.BadRequest, "pub/sub %s is added twice", md.Name)
	}
	s.brokers[md.Name] = e
	return nil
}

// consumerGroup is the component's consumerID, its {appID} and
// {namespace} filled in, or the app id.
func (s *Service) consumerGroup(md components.Metadata) string {
	id, _ := md.Property("consumerID")
	if id == "" {
		return s.appID
	}
	ns := s.namespace
	if ns == "" {
		ns = "default"
	}
	return strings.NewReplacer("{appID}", s.appID, "{namespace}", ns).Replace(id)
}

// Components lists the added brokers by name.
func (s *Service) Components() []ComponentInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]ComponentInfo, 0, len(s.brokers))
	for _, e := range s.brokers {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Has tells whether a broker is added under name.
func (s *Service) Has(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.brokers[name] != nil
}

// PublishRequest is one publish through the API.
type PublishRequest struct {
	Pubsub, Topic string
	Data          []byte
	// ContentType is the data's media type; application/cloudevents+json
	// makes Data the event itself.
	ContentType string
	// Metadata is the request's metadata (rawPayload, ttlInSeconds,
	// cloudevent.*, the broker's own keys).
	Metadata map[string]string
	// TraceParent and TraceState are the publish call's trace context.
	TraceParent, TraceState string
	// TraceInMetadata passes the trace context of a raw payload in the
	// broker metadata (traceid, tracestate), as daprd's gRPC API does.
	TraceInMetadata bool
}

// Check returns Dapr's error for a publish's pub/sub and topic names, in
// daprd's order: an empty name, an unknown pub/sub, an empty topic.
func (s *Service) Check(name, topic string) error {
	_, err := s.lookup(name, topic)
	return err
}

// lookup applies daprd's checks of a publish's names, in its order.
func (s *Service) lookup(name, topic string) (*entry, error) {
	if name == "" {
		return nil, daprerr.New(daprerr.PubsubEmpty, "pubsub name is empty")
	}
	s.mu.RLock()
	e := s.brokers[name]
	s.mu.RUnlock()
	if e == nil {
		return nil, daprerr.NoPubsub(name)
	}
	if topic == "" {
		return nil, daprerr.New(daprerr.TopicNameEmpty, "topic is empty in pubsub %s", name)
	}
	return e, nil
}

// Publish wraps req's data in a CloudEvent (unless rawPayload) and stores
// it on the topic. It returns nil only once the broker has stored it.
func (s *Service) Publish(ctx context.Context, req PublishRequest) error {
	e, err := s.lookup(req.Pubsub, req.Topic)
	if err != nil {
		return err
	}
	raw, err := rawPayload(req.Metadata)
	if err != nil {
		return daprerr.New(daprerr.PubsubRequestMetadata, "failed deserializing metadata. Error: %s", err)
	}
	md := req.Metadata
	data := req.Data
	if raw {
		if req.TraceInMetadata {
			md = maps.Clone(md)
			if md == nil {
				md = map[string]string{}
			}
			md[fieldTraceID], md[fieldTraceState] = req.TraceParent, req.TraceState
		}
	} else {
		if data, err = s.envelope(e, req.Pubsub, req.Topic, req.ContentType, req.Data, md, req.TraceParent, req.TraceState); err != nil {
			return err
		}
	}
	start := time.Now()
	if !e.scopes.publishes(req.Topic) {
		s.egress(req.Pubsub, req.Topic, false, start)
		return daprerr.New(daprerr.PubsubForbidden, "topic %s is not allowed for app id %s", req.Topic, s.appID)
	}
	ct := req.ContentType
	if !raw {
		ct = ContentTypeCloudEvent
	}
	err = s.run(ctx, e, func(ctx context.Context) error {
		return e.broker.Publish(ctx, &cpubsub.PublishRequest{Topic: req.Topic, Data: data, ContentType: ct, Metadata: md})
	})
	s.egress(req.Pubsub, req.Topic, err == nil, start)
	if err != nil {
		return publishError(req.Pubsub, req.Topic, err)
	}
	return nil
}

// envelope writes the CloudEvent of one publish.
func (s *Service) envelope(e *entry, name, topic, contentType string, data []byte, md map[string]string, tp, ts string) ([]byte, error) {
	now := s.now()
	exp, err := expirationOf(md, e.expires, now)
	if err != nil {
		// daprd ignores a ttl it cannot read here; the broker refuses it.
		s.log.Debug("publish metadata ttl ignored", "error", err)
	}
	// Room for the attributes around data, base64 if binary.
	buf := make([]byte, 0, len(data)*4/3+384)
	out, err := appendEnvelope(buf, eventInput{
		Source: s.appID, Topic: topic, Pubsub: name, DataContentType: contentType,
		Data: data, TraceParent: tp, TraceState: ts,
	}, md, exp, now)
	if err != nil {
		return nil, daprerr.Wrap(daprerr.PubsubCloudEvents, err, "cannot create cloudevent")
	}
	return out, nil
}

// egress records a publish that reached the broker or its topic scopes,
// as daprd counts them.
func (s *Service) egress(component, topic string, success bool, start time.Time) {
	if s.metrics != nil {
		s.metrics.PubsubEgress(s.metricsNamespace(), component, topic, success, time.Since(start))
	}
}

// metricsNamespace is the namespace label of the metrics: the app's, or
// daprd's default.
func (s *Service) metricsNamespace() string {
	if s.namespace == "" {
		return "default"
	}
	return s.namespace
}

// publishError is ERR_PUBSUB_PUBLISH_MESSAGE with the broker's cause.
func publishError(name, topic string, err error) error {
	return &daprerr.Error{
		Kind:    daprerr.PubsubPublishMessage,
		Message: fmt.Sprintf("error when publishing to topic %s in pubsub %s: %s", topic, name, err),
		Cause:   err,
	}
}

// run makes one call to the broker under the component's outbound policy.
func (s *Service) run(ctx context.Context, e *entry, op func(context.Context) error) error {
	if e.policy == nil {
		return op(ctx)
	}
	_, err := resiliency.Run(ctx, e.policy, func(ctx context.Context) (struct{}, error) {
		err := op(ctx)
		if errors.Is(err, cpubsub.ErrInvalidRequest) {
			err = resiliency.Permanent(err)
		}
		return struct{}{}, err
	}, resiliency.RunOptions[struct{}]{})
	return err
}

// BulkEntry is one event of a bulk publish.
type BulkEntry struct {
	EntryID     string
	Event       []byte
	ContentType string
	// Metadata overrides the request's metadata for this entry.
	Metadata map[string]string
}

// BulkRequest is a bulk publish through the API.
type BulkRequest struct {
	Pubsub, Topic           string
	Entries                 []BulkEntry
	Metadata                map[string]string
	TraceParent, TraceState string
}

// FailedEntry is an entry the broker did not store.
type FailedEntry struct {
	EntryID string
	Error   string
}

// BulkPublish stores every entry, each in its own CloudEvent unless
// rawPayload. Entries that failed are returned with an
// ERR_PUBSUB_PUBLISH_MESSAGE error; the others were stored.
func (s *Service) BulkPublish(ctx context.Context, req BulkRequest) ([]FailedEntry, error) {
	e, err := s.lookup(req.Pubsub, req.Topic)
	if err != nil {
		return nil, err
	}
	raw, err := rawPayload(req.Metadata)
	if err != nil {
		return nil, daprerr.New(daprerr.PubsubRequestMetadata, "failed deserializing metadata. Error: %s", err)
	}
	seen := make(map[string]bool, len(req.Entries))
	entries := make([]cpubsub.BulkPublishEntry, len(req.Entries))
	for i, in := range req.Entries {
		if in.EntryID == "" || seen[in.EntryID] {
			return nil, daprerr.New(daprerr.PubsubEventsSer,
				"error marshaling events to bytes for topic %s pubsub %s. error: entryId is duplicated or not present for entry",
				req.Topic, req.Pubsub)
		}
		seen[in.EntryID] = true
		md := in.Metadata
		if md != nil {
			md = cpubsub.MergeMetadata(req.Metadata, md)
		}
		out := cpubsub.BulkPublishEntry{EntryID: in.EntryID, Data: in.Event, ContentType: in.ContentType, Metadata: md}
		if !raw {
			tp := req.TraceParent
			if out.Data, err = s.envelope(e, req.Pubsub, req.Topic, in.ContentType, in.Event, md, tp, req.TraceState); err != nil {
				return nil, err
			}
			out.ContentType = ContentTypeCloudEvent
		}
		entries[i] = out
	}
	if !e.scopes.publishes(req.Topic) {
		return nil, daprerr.New(daprerr.PubsubForbidden, "topic %s is not allowed for app id %s", req.Topic, s.appID)
	}
	var failed []cpubsub.BulkPublishFailure
	start := time.Now()
	err = s.run(ctx, e, func(ctx context.Context) error {
		var err error
		failed, err = cpubsub.BulkPublish(ctx, e.broker, &cpubsub.BulkPublishRequest{
			Topic: req.Topic, Entries: entries, Metadata: req.Metadata,
		})
		return err
	})
	if m, ok := s.metrics.(BulkRecorder); ok {
		m.BulkPubsubEgress(s.metricsNamespace(), req.Pubsub, req.Topic, err == nil, time.Since(start))
	}
	if err == nil {
		return nil, nil
	}
	out := make([]FailedEntry, 0, len(failed))
	for _, f := range failed {
		msg := ""
		if f.Err != nil {
			msg = f.Err.Error()
		}
		out = append(out, FailedEntry{EntryID: f.EntryID, Error: msg})
	}
	if len(out) == 0 {
		// The broker failed as a whole: nothing was stored.
		for _, in := range req.Entries {
			out = append(out, FailedEntry{EntryID: in.EntryID, Error: err.Error()})
		}
	}
	return out, publishError(req.Pubsub, req.Topic, err)
}
