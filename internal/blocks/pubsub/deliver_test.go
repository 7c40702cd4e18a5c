package pubsub

import (
	"encoding/json"
	"strings"
	"testing"

	cpubsub "github.com/cove-env/cove/internal/components/pubsub"
)

// TestDeliveryReadsOnlyWhatItNeeds: delivery passes the event's bytes on
// as they came and reads expiry, trace context and id from them as a
// decoding of the whole event would; the whole event is decoded only when
// a rule's expression is tried, and a rule then sees every attribute.
func TestDeliveryReadsOnlyWhatItNeeds(t *testing.T) {
	s := New("app", Options{})
	byDefault, err := NewSubscription("pubsub", "t", nil, "/all", "", nil, TypeProgrammatic)
	if err != nil {
		t.Fatal(err)
	}
	byRule, err := NewSubscription("pubsub", "t", []Rule{{Match: `event.data.kind == "big" && event.ext == 2.0`, Path: "/big"}},
		"/other", "", nil, TypeProgrammatic)
	if err != nil {
		t.Fatal(err)
	}
	ev := []byte(` {"data": {"kind": "big"}, "ext": 2, "\u0069d": "e-1", "expiration": "2000-01-01T00:00:00Z",
		"traceparent": "", "traceid": "tid", "tracestate": "a=\u00e9", "traceid": "tid2"}`)
	h := &handler{s: s, sub: &byDefault}
	d, err := h.delivery(&cpubsub.Message{Topic: "t", Data: ev})
	if err != nil {
		t.Fatal(err)
	}
	if &d.Data[0] != &ev[0] {
		t.Error("the event's bytes were copied")
	}
	if d.id() != "e-1" || d.expiration() != "2000-01-01T00:00:00Z" || !expired(d.expiration(), testNow) {
		t.Errorf("id %q, expiration %q", d.id(), d.expiration())
	}
	if tp, ts := d.traceContext(); tp != "tid2" || ts != "a=é" {
		t.Errorf("trace context %q %q, want the last traceid and the tracestate", tp, ts)
	}
	if path, ok, err := byDefault.route(d); path != "/all" || !ok || err != nil || d.Event != nil {
		t.Errorf("default route: %q %v %v, event decoded: %v", path, ok, err, d.Event != nil)
	}
	if path, ok, err := byRule.route(d); path != "/big" || !ok || err != nil || d.Event == nil {
		t.Errorf("rule: %q %v %v", path, ok, err)
	}

	// Trace context missing from the event comes from the broker's
	// metadata, in the event the app receives.
	d, err = h.delivery(&cpubsub.Message{Topic: "t", Data: []byte(`{"id":"e-2","traceid":"mine"}`),
		Metadata: map[string]string{"traceid": "theirs", "tracestate": "x=y"}})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(d.Data, &got); err != nil || got["traceid"] != "mine" || got["tracestate"] != "x=y" {
		t.Errorf("event %s (%v)", d.Data, err)
	}
	if tp, ts := d.traceContext(); tp != "mine" || ts != "x=y" {
		t.Errorf("trace context %q %q", tp, ts)
	}

	for _, bad := range []string{`null`, `[1]`, `"x"`, `{"id":`, `{"id":"x"} more`} {
		_, err := h.delivery(&cpubsub.Message{Topic: "t", Data: []byte(bad)})
		if err == nil || !strings.Contains(err.Error(), "not a CloudEvent") {
			t.Errorf("message %s: %v", bad, err)
		}
	}
}

// BenchmarkDelivery: decoding one delivered event whole, as delivery did
// ("decode": the decoding alone), against all delivery does now for a
// subscription without rule expressions ("head": reading the message,
// its expiry, its route).
func BenchmarkDelivery(b *testing.B) {
	in := eventInput{Source: "app", Topic: "t", Pubsub: "ps", DataContentType: contentTypeJSON,
		Data:        []byte(`{"t":1765151000000000000,"name":"order-42","items":[{"sku":"a-1","qty":2},{"sku":"b-7","qty":1}]}`),
		TraceParent: testTP, TraceState: testTS}
	ev, err := encode(in, map[string]string{"ttlInSeconds": "60"}, false, testNow)
	if err != nil {
		b.Fatal(err)
	}
	sub, err := NewSubscription("ps", "t", nil, "/all", "", nil, TypeProgrammatic)
	if err != nil {
		b.Fatal(err)
	}
	h := &handler{s: New("app", Options{}), sub: &sub}
	msg := &cpubsub.Message{Topic: "t", Data: ev}
	b.Run("read=decode", func(b *testing.B) {
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(msg.Data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read=head", func(b *testing.B) {
		for b.Loop() {
			d, err := h.delivery(msg)
			if err != nil {
				b.Fatal(err)
			}
			if expired(d.expiration(), testNow) {
				b.Fatal("expired")
			}
			if _, ok, err := sub.route(d); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// FuzzReadHead: the attributes delivery reads of an event are those of
// the event decoded whole.
func FuzzReadHead(f *testing.F) {
	for _, seed := range []string{`{"id":"a","expiration":"x","traceid":"t","traceparent":"p","tracestate":"s"}`,
		` { "\u0069d" : 1 , "traceparent" : null, "data": {"id": "inner"}, "tracestate": "\u00e9\ud800" } `,
		`{"traceid":"a","traceid":"b","expiration":["x"]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev map[string]any
		if !json.Valid(data) || !isObject(data) || json.Unmarshal(data, &ev) != nil {
			return
		}
		h := readHead(data)
		for _, c := range []struct {
			name string
			raw  []byte
		}{{fieldID, h.id}, {fieldExpiration, h.expiration}, {fieldTraceID, h.traceID}, {fieldTraceParent, h.traceParent}, {fieldTraceState, h.traceState}} {
			v, has := ev[c.name]
			if has != (c.raw != nil) {
				t.Fatalf("%s: present %v, read %q", c.name, has, c.raw)
			}
			if s, _ := v.(string); s != stringValue(c.raw) {
				t.Fatalf("%s = %q, read %q", c.name, s, stringValue(c.raw))
			}
		}
	})
}
