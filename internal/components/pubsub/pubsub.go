// Package pubsub defines the interface every pub/sub broker implements:
// publish, bulk publish and subscribe with consumer groups, as the pub/sub
// building block needs them. Implementations live in subpackages
// (inmemory, redis, jetstream, ...) and register with the components
// registry; the conformance subpackage is the one suite they all pass.
//
// The broker carries bytes: CloudEvents envelopes, routing rules, dead
// letters, resiliency and TTL checks on delivery are the building block's
// job, not the broker's.
//
// # Delivery contract
//
// A message is delivered at least once to every consumer group subscribed
// to its topic, and to one subscriber of each group at a time: the replicas
// of one app subscribe with one group (the app id, or the component's
// consumerID) and share the messages; two apps subscribe with two groups and
// each gets every message.
//
// The handler's Result decides the message's fate: Ack removes it for the
// group, Retry makes the broker deliver it again (after the broker's
// redelivery delay, possibly to another subscriber of the group), Drop
// removes it without it counting as processed (a broker with a dead-letter
// queue of its own, such as RabbitMQ with enableDeadLetter, moves it
// there). A message whose subscriber goes away before answering (its
// context ended, its process died) is delivered again to the group. Where
// a broker's own settings or protocol say otherwise, its package comment
// says so: RabbitMQ without requeueInFailure treats Retry as Drop, as daprd
// does; MQTT 3 redelivers only to the session that held the message.
//
// Order is kept only where a broker promises it, as its package comment
// says (the conformance suite checks it there): at best, one subscriber
// sees a topic's messages in publish order while none is retried. A
// redelivered message may arrive after later ones, and a handler may run
// concurrently for several messages of one subscription where the broker's
// concurrency setting allows it.
//
// Handlers must treat a Message as read-only: its Data may be shared with
// other groups' deliveries.
package pubsub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of pub/sub brokers.
const Kind = "pubsub"

func init() { components.RegisterKind(components.KindOf[PubSub](Kind)) }

// Feature is a capability a broker advertises; the names are Dapr's, as
// reported by the metadata API.
type Feature string

// Features a broker may report.
const (
	// FeatureMessageTTL: the broker expires messages by the publish
	// metadata's ttlInSeconds itself; the building block still drops an
	// expired message it is handed.
	FeatureMessageTTL Feature = "MESSAGE_TTL"
	// FeatureSubscribeWildcards: a subscription's topic may hold the
	// broker's wildcards (MQTT's + and #, NATS's * and >).
	FeatureSubscribeWildcards Feature = "SUBSCRIBE_WILDCARDS"
	// FeatureBulkPublish: the broker implements BulkPublisher natively.
	FeatureBulkPublish Feature = "BULK_PUBSUB"
)

// TTLMetadata is the publish metadata key of a message's time to live in
// seconds, as Dapr spells it.
const TTLMetadata = "ttlInSeconds"

// Errors a broker wraps (fmt.Errorf("%w: ...")) so callers tell them apart
// with errors.Is. Any other Publish error means the message was not stored
// (ERR_PUBSUB_PUBLISH_MESSAGE); its text names the broker's address or the
// cause.
var (
	// ErrClosed: the broker was closed; nothing is published or delivered.
	ErrClosed = errors.New("pubsub closed")
	// ErrInvalidRequest: the request cannot be published or subscribed as
	// given (an empty topic, a metadata value the broker refuses): the
	// caller's mistake, not the broker's.
	ErrInvalidRequest = errors.New("invalid pubsub request")
)

// PublishRequest is one message to store on a topic.
type PublishRequest struct {
	Topic string
	// Data is the message body as the subscriber receives it (the
	// building block's CloudEvent, or the raw payload).
	Data []byte
	// ContentType is Data's media type; "" when unknown.
	ContentType string
	// Metadata holds the publish request's metadata (ttlInSeconds, a
	// broker's own keys such as rabbitmq's routingKey or priority). Brokers
	// that carry headers deliver it back in Message.Metadata.
	Metadata map[string]string
}

// BulkPublishEntry is one message of a bulk publish.
type BulkPublishEntry struct {
	// EntryID is the caller's id of the entry, echoed in failures.
	EntryID     string
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// BulkPublishRequest is several messages to store on one topic; Metadata
// applies to every entry, an entry's own Metadata wins over it.
type BulkPublishRequest struct {
	Topic    string
	Entries  []BulkPublishEntry
	Metadata map[string]string
}

// BulkPublishFailure is an entry that was not stored, and why.
type BulkPublishFailure struct {
	EntryID string
	Err     error
}

// SubscribeRequest is one subscription.
type SubscribeRequest struct {
	Topic string
	// Group is the consumer group: subscribers with the same Group share
	// the topic's messages, each group gets every message. Required; the
	// building block sets it to the component's consumerID or the app id.
	Group string
	// Metadata holds the subscription's metadata (Dapr's per-subscription
	// keys, which override the component's where the broker allows it).
	Metadata map[string]string
	// Batch, above 1, says the handler gathers messages into batches of up
	// to Batch and answers none of them before its batch is answered. A
	// broker that would run fewer handler calls at once (its concurrency
	// setting) lets up to Batch run where its package comment says so, or
	// a batch would wait its full time for messages the broker holds back;
	// those messages reach the handler in no guaranteed order.
	Batch int
}

// Message is a delivered message.
type Message struct {
	Topic       string
	Data        []byte
	ContentType string
	// Metadata carries what the broker keeps beside the body: the publish
	// metadata where the broker has headers, and broker facts.
	Metadata map[string]string
}

// Result is a handler's verdict on a message.
type Result int

// The verdicts; see the package comment for what each does.
const (
	Ack Result = iota
	Retry
	Drop
)

func (r Result) String() string {
	switch r {
	case Ack:
		return "ack"
	case Retry:
		return "retry"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Handler handles one delivered message. ctx ends when the subscription
// does; a handler still running then may return Ack (honoured where the
// broker can still acknowledge) or anything else (the message is delivered
// again to the group).
type Handler func(ctx context.Context, msg *Message) Result

// PubSub is the interface every broker implements.
type PubSub interface {
	// Init connects and prepares the broker; it fails with a message that
	// names the metadata item or the address at fault.
	Init(ctx context.Context, md components.Metadata) error
	Features() []Feature
	// Publish returns nil only once the broker has stored the message (for
	// a broker without storage, such as in-memory: accepted it), so an
	// acknowledged publish survives what the broker promises to survive.
	Publish(ctx context.Context, req *PublishRequest) error
	// Subscribe starts delivering req.Topic's messages for req.Group to h
	// and returns once the subscription is established: a message published
	// after Subscribe returns reaches the group. Delivery stops when ctx
	// ends or the broker closes; Subscribe's own error means nothing was
	// subscribed.
	Subscribe(ctx context.Context, req SubscribeRequest, h Handler) error
	// Close ends every subscription and releases the connection; it
	// returns once no handler call is still running. A second Close is a
	// no-op.
	Close() error
}

// BulkPublisher is implemented by brokers that store several messages in
// one call (and then report FeatureBulkPublish).
type BulkPublisher interface {
	// BulkPublish returns the entries that were not stored; err is set when
	// any failed. Entries absent from failed were stored.
	BulkPublish(ctx context.Context, req *BulkPublishRequest) (failed []BulkPublishFailure, err error)
}

// BulkPublish publishes req's entries through ps, natively when ps is a
// BulkPublisher and one by one otherwise (stopping at the first failure,
// every later entry reported as not stored).
func BulkPublish(ctx context.Context, ps PubSub, req *BulkPublishRequest) ([]BulkPublishFailure, error) {
	if bp, ok := ps.(BulkPublisher); ok {
		return bp.BulkPublish(ctx, req)
	}
	for i, e := range req.Entries {
		err := ps.Publish(ctx, &PublishRequest{
			Topic:       req.Topic,
			Data:        e.Data,
			ContentType: e.ContentType,
			Metadata:    MergeMetadata(req.Metadata, e.Metadata),
		})
		if err != nil {
			failed := make([]BulkPublishFailure, 0, len(req.Entries)-i)
			for _, rest := range req.Entries[i:] {
				failed = append(failed, BulkPublishFailure{EntryID: rest.EntryID, Err: err})
			}
			return failed, fmt.Errorf("bulk publish entry %q: %w", e.EntryID, err)
		}
	}
	return nil, nil
}

// MergeMetadata returns base overlaid with over (over wins), without
// modifying either; nil when both are empty.
func MergeMetadata(base, over map[string]string) map[string]string {
	if len(base) == 0 {
		return over
	}
	if len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

// CheckRequest validates what every broker needs of a publish or a
// subscription: a topic, and for a subscription a group.
func CheckRequest(topic, group string, subscribe bool) error {
	if strings.TrimSpace(topic) == "" {
		return fmt.Errorf("%w: the topic is empty", ErrInvalidRequest)
	}
	if subscribe && strings.TrimSpace(group) == "" {
		return fmt.Errorf("%w: subscription to %q has no consumer group", ErrInvalidRequest, topic)
	}
	return nil
}

// RuntimeMetadata names the metadata items of a pub/sub component that the
// sidecar reads, not the broker: a broker embeds it in the struct it
// decodes its metadata into, so components.Metadata.Decode does not report
// them as unknown. ConsumerID is the consumer group the building block
// subscribes with (the app id when absent).
type RuntimeMetadata struct {
	ConsumerID         string `metadata:"consumerID"`
	AllowedTopics      string `metadata:"allowedTopics"`
	ProtectedTopics    string `metadata:"protectedTopics"`
	PublishingScopes   string `metadata:"publishingScopes"`
	SubscriptionScopes string `metadata:"subscriptionScopes"`
}

// Parallel reads Dapr's choice between handling a subscription's messages
// one at a time ("single") or each as it comes ("parallel"): mode is the
// concurrencyMode key Dapr's brokers share, legacy the older concurrency
// key, def the broker's default in Dapr. concurrencyMode wins when both
// are set.
func Parallel(mode, legacy string, def bool) (bool, error) {
	key, v := "concurrencyMode", mode
	if v == "" {
		key, v = "concurrency", legacy
	}
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "single":
		return false, nil
	case "parallel":
		return true, nil
	}
	return false, fmt.Errorf("metadata %s %q: use single or parallel", key, v)
}
