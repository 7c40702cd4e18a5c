package pubsub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// The envelope as it was built before appendEnvelope: a map, encoded
// with encoding/json. It is the reference appendEnvelope's events must
// decode the same as.

// mapEnvelope wraps in as daprd does: a body whose content type is
// application/cloudevents+json is taken as the event, its missing
// attributes filled; any other body becomes the data of a new event, whose
// attributes metadata's "cloudevent.*" keys may override.
func mapEnvelope(in eventInput, metadata map[string]string, now time.Time) (map[string]any, error) {
	if isMediaType(in.DataContentType, ContentTypeCloudEvent) {
		return mapFromCloudEvent(in, now)
	}
	at := newAttributes(in, metadata)
	id, source, typ, subject, traceID, traceState, ct := at.id, at.source, at.typ, at.subject, at.traceID, at.traceState, at.contentType
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

// mapFromCloudEvent takes a body that already is a CloudEvent: its own
// attributes stay, topic and pubsubname are the publish's, and what is
// missing is filled in.
func mapFromCloudEvent(in eventInput, now time.Time) (map[string]any, error) {
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

// mapEncode is the reference's whole publish: the event, its expiration
// unless the broker expires messages, encoded.
func mapEncode(in eventInput, metadata map[string]string, brokerExpires bool, now time.Time) ([]byte, error) {
	ev, err := mapEnvelope(in, metadata, now)
	if err != nil {
		return nil, err
	}
	if ttl, ok, err := TTL(metadata); err == nil && ok && !brokerExpires {
		ev[fieldExpiration] = now.UTC().Add(ttl).Format(time.RFC3339)
	}
	return json.Marshal(ev)
}

// newEnvelope is the event appendEnvelope writes, decoded, for the tests
// that compare its attributes.
func newEnvelope(in eventInput, metadata map[string]string, now time.Time) (map[string]any, error) {
	out, err := appendEnvelope(nil, in, metadata, "", now)
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := decodePrecise(out, &ev); err != nil {
		return nil, fmt.Errorf("appendEnvelope wrote invalid JSON %s: %w", out, err)
	}
	return ev, nil
}

// encode is one publish's envelope as the service writes it.
func encode(in eventInput, metadata map[string]string, brokerExpires bool, now time.Time) ([]byte, error) {
	exp, _ := expirationOf(metadata, brokerExpires, now)
	return appendEnvelope(nil, in, metadata, exp, now)
}

// TestEnvelopeAsTheMap: for each publish, the event appendEnvelope writes
// decodes to the map the map-based envelope encoded; an event the
// reference refuses is refused.
func TestEnvelopeAsTheMap(t *testing.T) {
	base := eventInput{Source: "publisher", Topic: "orders", Pubsub: "pubsub", TraceParent: testTP, TraceState: testTS}
	with := func(ct, data string) eventInput {
		in := base
		in.DataContentType, in.Data = ct, []byte(data)
		return in
	}
	ttl := map[string]string{"ttlInSeconds": "30"}
	tests := []struct {
		name          string
		in            eventInput
		metadata      map[string]string
		brokerExpires bool
		sameBytes     bool // the JSON is the map's, byte for byte
	}{
		{name: "JSON object", in: with("application/json", `{"id":"p1","n":12345678901234567890,"f":1.50,"e":1E3,"z":-0}`)},
		{name: "JSON object, spaces and nesting", in: with("application/json", " {\n \"a\" : [ 1 , {\"b\" : null} ],\t\"c\":\"<&>\" }\n")},
		{name: "JSON object, duplicate keys", in: with("application/json", `{"a":1,"a":2}`)},
		{name: "JSON string", in: with("application/json", `"hello \"world\" \u00e9"`)},
		{name: "JSON number", sameBytes: true, in: with("application/json", `42`)},
		{name: "JSON null", sameBytes: true, in: with("application/json", `null`)},
		{name: "JSON with parameters", in: with("Application/JSON; charset=utf-8", `[1,2]`)},
		{name: "JSON that does not parse", sameBytes: true, in: with("application/json", `{"id":`)},
		{name: "JSON followed by more", sameBytes: true, in: with("application/json", `{"a":1} {"b":2}`)},
		{name: "JSON empty", sameBytes: true, in: with("application/json", ``)},
		{name: "JSON with invalid UTF-8", in: with("application/json", "{\"s\":\"a\xffb\"}")},
		{name: "no content type", sameBytes: true, in: with("", `hello`)},
		{name: "text", sameBytes: true, in: with("text/plain", "line 1\nline 2\t\"quoted\" <tag> & \u2028 \x01 é \xff")},
		{name: "text empty", sameBytes: true, in: with("text/plain", "")},
		{name: "binary", sameBytes: true, in: with("application/octet-stream", "\x00\x01\xff")},
		{name: "protobuf CloudEvent", sameBytes: true, in: with("application/cloudevents+protobuf", "\x0a\x02id")},
		{name: "overrides", sameBytes: true, in: with("application/json", `1`), metadata: map[string]string{
			"cloudevent.id": "my-id", "CloudEvent.Source": "elsewhere", "cloudevent.type": "my.type",
			"cloudevent.subject": "subj", "cloudevent.tracestate": "a=b", "other": "x"}},
		{name: "traceparent override", sameBytes: true, in: with("text/plain", `x`), metadata: map[string]string{
			"cloudevent.traceid": "tid", "cloudevent.traceparent": "tp"}},
		{name: "empty overrides", sameBytes: true, in: with("text/plain", `x`), metadata: map[string]string{
			"cloudevent.source": "", "cloudevent.type": "", "cloudevent.subject": "", "cloudevent.traceid": ""}},
		{name: "no trace context", sameBytes: true, in: eventInput{Topic: "t", Pubsub: "p", DataContentType: "text/plain", Data: []byte("x")}},
		{name: "ttl", sameBytes: true, in: with("application/json", `{"a":1}`), metadata: ttl},
		{name: "ttl the broker keeps", sameBytes: true, in: with("application/json", `{"a":1}`), metadata: ttl, brokerExpires: true},
		{name: "ttl that does not parse", sameBytes: true, in: with("text/plain", `x`), metadata: map[string]string{"ttl": "soon"}},
		{name: "CloudEvent with every attribute", in: with("application/cloudevents+json", `{"id":"e1","source":"s",
			"type":"t","specversion":"1.0","time":"2020-01-01T00:00:00Z","topic":"other","pubsubname":"x",
			"traceid":"mine","traceparent":"tp","tracestate":"ts","expiration":"2030-01-01T00:00:00Z",
			"data":{"a":1, "b" : [true, null]},"ext":"<x>"}`), metadata: map[string]string{"cloudevent.id": "ignored"}},
		{name: "CloudEvent missing attributes", in: with("application/cloudevents+json; charset=utf-8", `{"id":"e2","data":"x"}`)},
		{name: "CloudEvent empty", in: with("application/cloudevents+json", `{}`)},
		{name: "CloudEvent with null attributes", in: with("application/cloudevents+json",
			`{"source":null,"type":null,"specversion":null,"time":null,"traceid":null,"tracestate":null,"topic":null}`)},
		{name: "CloudEvent with traceparent but no traceid", in: with("application/cloudevents+json", `{"id":"e","traceparent":"old"}`)},
		{name: "CloudEvent with duplicate and escaped keys", in: with("application/cloudevents+json",
			`{"source":"a","source":null,"\u0074opic":"x","type":"t1","type":"t2","id":"1","id":"2"}`)},
		{name: "CloudEvent with ttl", in: with("application/cloudevents+json", `{"id":"e","expiration":"2000-01-01T00:00:00Z"}`), metadata: ttl},
		{name: "CloudEvent with ttl the broker keeps", in: with("application/cloudevents+json", `{"id":"e","expiration":"x"}`), metadata: ttl, brokerExpires: true},
		{name: "CloudEvent followed by more", in: with("application/cloudevents+json", `{"id":"e"} trailing`)},
		{name: "CloudEvent with spaces", in: with("application/cloudevents+json", "\n { \"id\" : \"e\" ,\n\"data\" : { \"a\" : 1 } } ")},
		{name: "CloudEvent that does not parse", in: with("application/cloudevents+json", `{"id":`)},
		{name: "CloudEvent null", in: with("application/cloudevents+json", `null`)},
		{name: "CloudEvent a list", in: with("application/cloudevents+json", `[1]`)},
		{name: "CloudEvent a string", in: with("application/cloudevents+json", `"x"`)},
		{name: "CloudEvent empty body", in: with("application/cloudevents+json", ``)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := mapEncode(tt.in, tt.metadata, tt.brokerExpires, testNow)
			got, err := encode(tt.in, tt.metadata, tt.brokerExpires, testNow)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if err != nil {
				if err.Error() != wantErr.Error() {
					t.Errorf("error %q, want %q", err, wantErr)
				}
				return
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			gotV, wantV := decodeEvent(t, got), decodeEvent(t, want)
			if _, ok := tt.metadata["cloudevent.id"]; !ok && !isMediaType(tt.in.DataContentType, ContentTypeCloudEvent) {
				if id, _ := gotV["id"].(string); uuid.Validate(id) != nil {
					t.Errorf("id %q is not a UUID", id)
				}
				gotV["id"], wantV["id"] = "", ""
			}
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("event\n got %s\nwant %s", got, want)
			}
			if !tt.sameBytes {
				return
			}
			// A new event's bytes are the map's, given the same id.
			md := maps.Clone(tt.metadata)
			if md == nil {
				md = map[string]string{}
			}
			if md["cloudevent.id"] == "" {
				md["cloudevent.id"] = "fixed"
			}
			want, _ = mapEncode(tt.in, md, tt.brokerExpires, testNow)
			got, _ = encode(tt.in, md, tt.brokerExpires, testNow)
			if !bytes.Equal(got, want) {
				t.Errorf("bytes\n got %s\nwant %s", got, want)
			}
		})
	}
}

func decodeEvent(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var ev map[string]any
	if err := decodePrecise(data, &ev); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return ev
}

// TestAppendString: strings are escaped as encoding/json escapes them.
func TestAppendString(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	for _, s := range []string{"", "plain", all.String(), "é ü 日本 \U0001F600", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82",
		"\xed\xa0\x80 surrogate", strings.Repeat("<a href=\"x\">&amp;</a>\n", 40)} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		if got := appendString([]byte("x"), []byte(s)); !bytes.Equal(got[1:], want) {
			t.Errorf("appendString([]byte %q) = %s, want %s", s, got[1:], want)
		}
		if !utf8.ValidString(s) {
			continue
		}
		if got := stringValue(want); got != s {
			t.Errorf("stringValue(%s) = %q, want %q", want, got, s)
		}
	}
}

// TestMembers: each member of an object, with spaces, nesting and
// escapes, as encoding/json reads them.
func TestMembers(t *testing.T) {
	obj := []byte(` { "a" : 1 , "b":{"c":[1,"]}\"",{}]},"d\"e": "x\\" ,"f":null,"g":-1.5e3,"h":true,"":[]} `)
	var want map[string]json.RawMessage
	if err := json.Unmarshal(obj, &want); err != nil {
		t.Fatal(err)
	}
	got := map[string]json.RawMessage{}
	for k, v := range members(obj) {
		got[string(keyName(k))] = v
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members\n got %q\nwant %q", got, want)
	}
}

// BenchmarkEnvelope: one publish's CloudEvent of a small JSON object, as
// the bench app publishes, written field by field ("append") against the
// map-based envelope encoded ("map"); and a body that is a CloudEvent
// already.
func BenchmarkEnvelope(b *testing.B) {
	in := eventInput{Source: "app", Topic: "t", Pubsub: "ps", DataContentType: contentTypeJSON,
		Data:        []byte(`{"t":1765151000000000000,"name":"order-42","items":[{"sku":"a-1","qty":2},{"sku":"b-7","qty":1}]}`),
		TraceParent: testTP, TraceState: testTS}
	ce, err := mapEncode(in, nil, false, testNow)
	if err != nil {
		b.Fatal(err)
	}
	ceIn := in
	ceIn.DataContentType, ceIn.Data = ContentTypeCloudEvent, ce
	for _, c := range []struct {
		name string
		in   eventInput
	}{{"json", in}, {"cloudevent", ceIn}} {
		b.Run(c.name+"/enc=map", func(b *testing.B) {
			for b.Loop() {
				if _, err := mapEncode(c.in, nil, false, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/enc=append", func(b *testing.B) {
			for b.Loop() {
				buf := make([]byte, 0, len(c.in.Data)*4/3+384)
				if _, err := appendEnvelope(buf, c.in, nil, "", testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzEnvelopeAsTheMap: any body, of any of the content types that take
// different paths, decodes as the map-based envelope's; a body the
// reference refuses is refused.
func FuzzEnvelopeAsTheMap(f *testing.F) {
	types := []string{"application/json", "text/plain", "application/octet-stream", ContentTypeCloudEvent}
	for _, seed := range []string{`{"a":[1,{"b":null}]}`, `"s"`, `{"id":"x","source":null,"topic":1}`, `{"a":1} x`, "\xff", ``} {
		for i := range types {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, ct uint8, data []byte) {
		in := eventInput{Source: "app", Topic: "t", Pubsub: "ps", DataContentType: types[int(ct)%len(types)], Data: data}
		md := map[string]string{"cloudevent.id": "fixed", "ttlInSeconds": "5"}
		want, wantErr := mapEncode(in, md, false, testNow)
		got, err := encode(in, md, false, testNow)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, want %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %s", got)
		}
		if gotV, wantV := decodeEvent(t, got), decodeEvent(t, want); !reflect.DeepEqual(gotV, wantV) {
			t.Errorf("event\n got %s\nwant %s", got, want)
		}
	})
}
