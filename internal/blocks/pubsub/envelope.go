package pubsub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CloudEvents attribute names and the values daprd fills in.
const (
	fieldID              = "id"
	fieldSource          = "source"
	fieldType            = "type"
	fieldSpecVersion     = "specversion"
	fieldDataContentType = "datacontenttype"
	fieldData            = "data"
	fieldDataBase64      = "data_base64"
	fieldSubject         = "subject"
	fieldTime            = "time"
	fieldTopic           = "topic"
	fieldPubsub          = "pubsubname"
	fieldTraceID         = "traceid"
	fieldTraceParent     = "traceparent"
	fieldTraceState      = "tracestate"
	fieldExpiration      = "expiration"

	// EventType is the type of an event the sidecar wraps.
	EventType = "com.dapr.event.sent"
	// SpecVersion is the CloudEvents version the sidecar writes.
	SpecVersion = "1.0"
	// defaultSource is the source of an event that names none.
	defaultSource = "Dapr"
	// defaultDataContentType is the data type of an event published
	// without a content type.
	defaultDataContentType = "text/plain"

	// ContentTypeCloudEvent is the media type of a structured CloudEvent.
	ContentTypeCloudEvent = "application/cloudevents+json"
	contentTypeJSON       = "application/json"
	contentTypeBinary     = "application/octet-stream"
	contentTypeCEProtobuf = "application/cloudevents+protobuf"
)

// Publish metadata keys the block reads.
const (
	// MetadataRawPayload publishes the body as it is, without an envelope.
	MetadataRawPayload = "rawPayload"
	// MetadataTTL and its alias MetadataTTLSeconds set the event's
	// expiration: a Go duration or a number of seconds.
	MetadataTTL        = "ttl"
	MetadataTTLSeconds = "ttlInSeconds"
	// metadataCloudEvent prefixes overrides of envelope attributes.
	metadataCloudEvent = "cloudevent."
)

// eventInput is what an envelope is built from.
type eventInput struct {
	Source          string // the publishing app's id
	Topic, Pubsub   string
	DataContentType string
	Data            []byte
	TraceParent     string
	TraceState      string
}

// newEnvelope wraps in as daprd does: a body whose content type is
// application/cloudevents+json is taken as the event, its missing
// attributes filled; any other body becomes the data of a new event, whose
// attributes metadata's "cloudevent.*" keys may override.
func newEnvelope(in eventInput, metadata map[string]string, now time.Time) (map[string]any, error) {
	if isMediaType(in.DataContentType, ContentTypeCloudEvent) {
		return fromCloudEvent(in, now)
	}
	// An override given, even empty, replaces the attribute, as daprd's
	// decoding of the metadata into its event does.
	id, typ, subject := "", "", ""
	source, traceID, traceState := in.Source, in.TraceParent, in.TraceState
	over := overrides(metadata)
	for k, v := range over {
		switch k {
		case fieldID:
			id = v
		case fieldSource:
			source = v
		case fieldType:
			typ = v
		case fieldSubject:
			subject = v
		case fieldTraceID:
			traceID = v
		case fieldTraceState:
			traceState = v
		}
	}
	// A traceparent override wins over traceid: both attributes carry it.
	if tp := over[fieldTraceParent]; tp != "" {
		traceID = tp
	}

	if id == "" {
		id = uuid.NewString()
	}
	if source == "" {
		source = defaultSource
	}
	if typ == "" {
		typ = EventType
	}
	ct := in.DataContentType
	if ct == "" {
		ct = defaultDataContentType
	}
	ev := map[string]any{
		fieldID:              id,
		fieldSpecVersion:     SpecVersion,
		fieldDataContentType: ct,
		fieldSource:          source,
		fieldType:            typ,
		fieldTopic:           in.Topic,
		fieldPubsub:          in.Pubsub,
		fieldTraceID:         traceID,
		fieldTraceParent:     traceID,
		fieldTraceState:      traceState,
		fieldTime:            now.Format(time.RFC3339),
	}
	switch {
	case isMediaType(ct, contentTypeJSON):
		var v any
		if err := decodePrecise(in.Data, &v); err != nil {
			// JSON that does not parse is carried as a string, as daprd does.
			ev[fieldData] = string(in.Data)
		} else {
			ev[fieldData] = v
		}
	case isMediaType(ct, contentTypeBinary) || isMediaType(ct, contentTypeCEProtobuf):
		ev[fieldDataBase64] = base64.StdEncoding.EncodeToString(in.Data)
	default:
		ev[fieldData] = string(in.Data)
	}
	if subject != "" {
		ev[fieldSubject] = subject
	}
	return ev, nil
}

// fromCloudEvent takes a body that already is a CloudEvent: its own
// attributes stay, topic and pubsubname are the publish's, and what is
// missing is filled in.
func fromCloudEvent(in eventInput, now time.Time) (map[string]any, error) {
	var ev map[string]any
	if err := decodePrecise(in.Data, &ev); err != nil {
		return nil, fmt.Errorf("the body is not a JSON CloudEvent: %w", err)
	}
	if ev == nil {
		return nil, fmt.Errorf("the body is not a JSON CloudEvent: null")
	}
	if _, ok := ev[fieldTime]; !ok {
		ev[fieldTime] = now.Format(time.RFC3339)
	}
	if _, ok := ev[fieldTraceID]; !ok {
		ev[fieldTraceID] = in.TraceParent
		ev[fieldTraceParent] = in.TraceParent
	}
	if _, ok := ev[fieldTraceState]; !ok {
		ev[fieldTraceState] = in.TraceState
	}
	ev[fieldTopic] = in.Topic
	ev[fieldPubsub] = in.Pubsub
	if ev[fieldSource] == nil {
		ev[fieldSource] = defaultSource
	}
	if ev[fieldType] == nil {
		ev[fieldType] = EventType
	}
	if ev[fieldSpecVersion] == nil {
		ev[fieldSpecVersion] = SpecVersion
	}
	return ev, nil
}

// overrides reads the "cloudevent.*" metadata keys, in any case, as the
// lower-case attribute names they override.
func overrides(metadata map[string]string) map[string]string {
	var out map[string]string
	for k, v := range metadata {
		if len(k) <= len(metadataCloudEvent) || !strings.EqualFold(k[:len(metadataCloudEvent)], metadataCloudEvent) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[strings.ToLower(k[len(metadataCloudEvent):])] = v
	}
	return out
}

// applyTTL sets the event's expiration from the metadata's ttl when the
// broker does not expire messages itself.
func applyTTL(ev map[string]any, metadata map[string]string, brokerExpires bool, now time.Time) error {
	ttl, ok, err := TTL(metadata)
	if err != nil || !ok || brokerExpires {
		return err
	}
	ev[fieldExpiration] = now.UTC().Add(ttl).Format(time.RFC3339)
	return nil
}

// TTL reads a message's time to live from publish metadata: "ttl" or
// "ttlInSeconds", a Go duration or a positive number of seconds. ok is
// false when neither is set.
func TTL(metadata map[string]string) (ttl time.Duration, ok bool, err error) {
	v := property(metadata, MetadataTTL, MetadataTTLSeconds)
	if v == "" {
		return 0, false, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return max(d, 0), true, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s value must be a valid integer: actual is '%s'", MetadataTTL, v)
	}
	if n <= 0 {
		return 0, false, fmt.Errorf("%s value must be higher than zero: actual is '%d'", MetadataTTL, n)
	}
	if n > math.MaxInt64/int64(time.Second) {
		return time.Duration(math.MaxInt64), true, nil
	}
	return time.Duration(n) * time.Second, true, nil
}

// Expired tells whether an event's expiration has passed; an event
// without one, or with one that does not parse, never expires.
func Expired(ev map[string]any, now time.Time) bool {
	v, ok := ev[fieldExpiration]
	if !ok || v == "" {
		return false
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(v))
	if err != nil {
		return false
	}
	return exp.Before(now)
}

// rawPayload reads the rawPayload metadata key as a boolean.
func rawPayload(metadata map[string]string) (bool, error) {
	v, ok := metadata[MetadataRawPayload]
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s value must be a valid boolean: actual is '%s'", MetadataRawPayload, v)
	}
	return b, nil
}

// property returns the first non-empty value among keys, matched in any
// case as Dapr matches metadata keys.
func property(metadata map[string]string, keys ...string) string {
	for _, want := range keys {
		for k, v := range metadata {
			if v != "" && strings.EqualFold(k, want) {
				return v
			}
		}
	}
	return ""
}

// decodePrecise decodes JSON keeping numbers as written, so large
// integers survive the envelope.
func decodePrecise(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// isMediaType compares a content type's media type, ignoring case and
// parameters, to want.
func isMediaType(contentType, want string) bool {
	ct := strings.ToLower(contentType)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return ct == want
}
