package pubsub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
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

// appendEnvelope appends the CloudEvent of one publish as JSON, written
// field by field rather than through a map (building and encoding the map
// was a fifth of the sidecar's CPU under bulk publishes), with the
// attributes daprd writes: a body whose content type is
// application/cloudevents+json is taken as the event, its missing
// attributes filled; any other body becomes the data of a new event, whose
// attributes metadata's "cloudevent.*" keys may override. expiration, when
// not "", is the event's expiration attribute.
func appendEnvelope(buf []byte, in eventInput, metadata map[string]string, expiration string, now time.Time) ([]byte, error) {
	if isMediaType(in.DataContentType, ContentTypeCloudEvent) {
		return appendFromCloudEvent(buf, in, expiration, now)
	}
	at := newAttributes(in, metadata)
	ct := at.contentType
	// The attributes in the order of their names, as encoding a map
	// writes them.
	switch {
	case isMediaType(ct, contentTypeJSON):
		buf = append(buf, `{"data":`...)
		buf = appendJSONData(buf, in.Data)
	case isMediaType(ct, contentTypeBinary) || isMediaType(ct, contentTypeCEProtobuf):
		buf = append(buf, `{"data_base64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, in.Data)
		buf = append(buf, '"')
	default:
		buf = append(buf, `{"data":`...)
		buf = appendString(buf, in.Data)
	}
	buf = appendField(buf, fieldDataContentType, ct)
	if expiration != "" {
		buf = appendField(buf, fieldExpiration, expiration)
	}
	buf = appendField(buf, fieldID, at.id)
	buf = appendField(buf, fieldPubsub, in.Pubsub)
	buf = appendField(buf, fieldSource, at.source)
	buf = appendField(buf, fieldSpecVersion, SpecVersion)
	if at.subject != "" {
		buf = appendField(buf, fieldSubject, at.subject)
	}
	buf = append(buf, `,"time":"`...)
	buf = now.AppendFormat(buf, time.RFC3339)
	buf = append(buf, '"')
	buf = appendField(buf, fieldTopic, in.Topic)
	buf = appendField(buf, fieldTraceID, at.traceID)
	buf = appendField(buf, fieldTraceParent, at.traceID)
	buf = appendField(buf, fieldTraceState, at.traceState)
	buf = appendField(buf, fieldType, at.typ)
	return append(buf, '}'), nil
}

// attributes are a new event's attributes but its data, topic and
// pubsubname.
type attributes struct {
	id, source, typ, subject, traceID, traceState, contentType string
}

// newAttributes are the attributes of in's new event: the publish's,
// metadata's "cloudevent.*" overrides, daprd's defaults.
func newAttributes(in eventInput, metadata map[string]string) attributes {
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
	return attributes{id: id, source: source, typ: typ, subject: subject, traceID: traceID, traceState: traceState, contentType: ct}
}

// appendField appends ,"name":value with value as a JSON string.
func appendField[T string | []byte](buf []byte, name string, value T) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, '"', ':')
	return appendString(buf, value)
}

// appendJSONData appends the data of a JSON event: as written, without
// its spaces, when it is valid JSON; otherwise what daprd makes of it,
// the first JSON value when one starts it, else the body as a string.
func appendJSONData(buf []byte, data []byte) []byte {
	if out := bytes.NewBuffer(buf); json.Compact(out, data) == nil {
		return out.Bytes()
	}
	var v any
	if err := decodePrecise(data, &v); err == nil {
		if b, err := json.Marshal(v); err == nil {
			return append(buf, b...)
		}
	}
	return appendString(buf, data)
}

// filled are the attributes a CloudEvent body gets when it lacks them
// (time, the trace context) or has them null (source, type,
// specversion), by their index.
var filled = [...]string{fieldTime, fieldTraceID, fieldTraceState, fieldSource, fieldType, fieldSpecVersion}

const (
	filledTime = iota
	filledTraceID
	filledTraceState
	filledSource
	filledType
	filledSpecVersion
)

// appendFromCloudEvent appends a body that already is a CloudEvent: its
// own attributes stay as written, topic and pubsubname are the
// publish's, and what is missing is filled in.
func appendFromCloudEvent(buf []byte, in eventInput, expiration string, now time.Time) ([]byte, error) {
	// The body's own spaces go: its members are copied as they are.
	var compact bytes.Buffer
	if json.Compact(&compact, in.Data) != nil {
		// What daprd decodes: the first JSON value, what follows ignored.
		var first json.RawMessage
		if err := json.NewDecoder(bytes.NewReader(in.Data)).Decode(&first); err != nil {
			return nil, fmt.Errorf("the body is not a JSON CloudEvent: %w", err)
		}
		compact.Reset()
		if err := json.Compact(&compact, first); err != nil {
			return nil, fmt.Errorf("the body is not a JSON CloudEvent: %w", err)
		}
	}
	body := compact.Bytes()
	if !isObject(body) {
		var ev map[string]any
		if err := decodePrecise(body, &ev); err != nil {
			return nil, fmt.Errorf("the body is not a JSON CloudEvent: %w", err)
		}
		return nil, fmt.Errorf("the body is not a JSON CloudEvent: null")
	}
	// What the body has: an attribute present (even as null), or present
	// and not null, as its last occurrence says.
	var has, set [len(filled)]bool
	for key, value := range members(body) {
		if i := slices.Index(filled[:], string(keyName(key))); i >= 0 {
			has[i], set[i] = true, string(value) != "null"
		}
	}
	// The attributes written here replace every occurrence of theirs.
	replaced := func(name string) bool {
		switch name {
		case fieldTopic, fieldPubsub:
			return true
		case fieldExpiration:
			return expiration != ""
		case fieldTraceParent:
			return !has[filledTraceID]
		case fieldSource:
			return !set[filledSource]
		case fieldType:
			return !set[filledType]
		case fieldSpecVersion:
			return !set[filledSpecVersion]
		}
		return false
	}
	buf = append(buf, `{"pubsubname":`...)
	buf = appendString(buf, in.Pubsub)
	buf = appendField(buf, fieldTopic, in.Topic)
	for key, value := range members(body) {
		if replaced(string(keyName(key))) {
			continue
		}
		buf = append(buf, ',')
		buf = append(buf, key...)
		buf = append(buf, ':')
		buf = append(buf, value...)
	}
	if !has[filledTime] {
		buf = append(buf, `,"time":"`...)
		buf = now.AppendFormat(buf, time.RFC3339)
		buf = append(buf, '"')
	}
	if !has[filledTraceID] {
		buf = appendField(buf, fieldTraceID, in.TraceParent)
		buf = appendField(buf, fieldTraceParent, in.TraceParent)
	}
	if !has[filledTraceState] {
		buf = appendField(buf, fieldTraceState, in.TraceState)
	}
	if !set[filledSource] {
		buf = appendField(buf, fieldSource, defaultSource)
	}
	if !set[filledType] {
		buf = appendField(buf, fieldType, EventType)
	}
	if !set[filledSpecVersion] {
		buf = appendField(buf, fieldSpecVersion, SpecVersion)
	}
	if expiration != "" {
		buf = appendField(buf, fieldExpiration, expiration)
	}
	return append(buf, '}'), nil
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

// expirationOf is the expiration attribute of an event published with
// metadata: "" without a ttl, or when the broker expires messages itself.
func expirationOf(metadata map[string]string, brokerExpires bool, now time.Time) (string, error) {
	ttl, ok, err := TTL(metadata)
	if err != nil || !ok || brokerExpires {
		return "", err
	}
	return now.UTC().Add(ttl).Format(time.RFC3339), nil
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

// expired tells whether an event's expiration has passed; an event
// without one, or with one that does not parse, never expires.
func expired(expiration string, now time.Time) bool {
	if expiration == "" {
		return false
	}
	exp, err := time.Parse(time.RFC3339, expiration)
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
