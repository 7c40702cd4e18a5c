package pubsub

import (
	"encoding/json"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const (
	testTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTS = "congo=t61rcWkgMzE"
)

// TestNewEnvelope compares every attribute with what daprd 1.18 writes for
// the same publish (its NewCloudEvent and the contrib envelope functions).
func TestNewEnvelope(t *testing.T) {
	base := eventInput{Source: "publisher", Topic: "orders", Pubsub: "pubsub", TraceParent: testTP, TraceState: testTS}
	with := func(ct, data string) eventInput {
		in := base
		in.DataContentType, in.Data = ct, []byte(data)
		return in
	}
	common := func(extra map[string]any) map[string]any {
		m := map[string]any{
			"specversion": "1.0", "source": "publisher", "type": "com.dapr.event.sent",
			"topic": "orders", "pubsubname": "pubsub", "traceid": testTP, "traceparent": testTP,
			"tracestate": testTS, "time": "2026-03-04T05:06:07Z",
		}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
				continue
			}
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		in       eventInput
		metadata map[string]string
		want     map[string]any // "id" checked apart when absent here
	}{
		{
			name: "JSON inline, big numbers kept",
			in:   with("application/json", `{"id":"p1","n":12345678901234567890}`),
			want: common(map[string]any{"datacontenttype": "application/json",
				"data": map[string]any{"id": "p1", "n": json.Number("12345678901234567890")}}),
		},
		{
			name: "JSON with parameters is JSON",
			in:   with("Application/JSON; charset=utf-8", `[1,2]`),
			want: common(map[string]any{"datacontenttype": "Application/JSON; charset=utf-8",
				"data": []any{json.Number("1"), json.Number("2")}}),
		},
		{
			name: "JSON that does not parse is a string",
			in:   with("application/json", `{"id":`),
			want: common(map[string]any{"datacontenttype": "application/json", "data": `{"id":`}),
		},
		{
			name: "no content type is text/plain",
			in:   with("", `hello`),
			want: common(map[string]any{"datacontenttype": "text/plain", "data": "hello"}),
		},
		{
			name: "text stays a string",
			in:   with("text/csv", `a,b`),
			want: common(map[string]any{"datacontenttype": "text/csv", "data": "a,b"}),
		},
		{
			name: "binary as data_base64",
			in:   with("application/octet-stream", "\x00\x01\xff"),
			want: common(map[string]any{"datacontenttype": "application/octet-stream", "data_base64": "AAH/"}),
		},
		{
			name: "cloudevent overrides, any case",
			in:   with("application/json", `1`),
			metadata: map[string]string{
				"cloudevent.id": "my-id", "CloudEvent.Source": "elsewhere", "cloudevent.type": "my.type",
				"cloudevent.subject": "subj", "cloudevent.tracestate": "a=b", "other": "x",
			},
			want: common(map[string]any{"id": "my-id", "source": "elsewhere", "type": "my.type", "subject": "subj",
				"tracestate": "a=b", "datacontenttype": "application/json", "data": json.Number("1")}),
		},
		{
			name:     "traceparent override wins over traceid",
			in:       with("text/plain", `x`),
			metadata: map[string]string{"cloudevent.traceid": "tid", "cloudevent.traceparent": "tp"},
			want:     common(map[string]any{"traceid": "tp", "traceparent": "tp", "datacontenttype": "text/plain", "data": "x"}),
		},
		{
			name:     "an empty source override falls back to Dapr",
			in:       with("text/plain", `x`),
			metadata: map[string]string{"cloudevent.source": ""},
			want:     common(map[string]any{"source": "Dapr", "datacontenttype": "text/plain", "data": "x"}),
		},
		{
			name: "a CloudEvent body keeps its attributes; topic and pubsub are the publish's",
			in: with("application/cloudevents+json", `{"id":"e1","source":"s","type":"t","specversion":"1.0",
				"time":"2020-01-01T00:00:00Z","topic":"other","pubsubname":"x","traceid":"mine","data":{"a":1}}`),
			metadata: map[string]string{"cloudevent.id": "ignored"},
			want: map[string]any{"id": "e1", "source": "s", "type": "t", "specversion": "1.0",
				"time": "2020-01-01T00:00:00Z", "topic": "orders", "pubsubname": "pubsub", "traceid": "mine",
				"tracestate": testTS, "data": map[string]any{"a": json.Number("1")}},
		},
		{
			name: "a CloudEvent body missing attributes gets them filled",
			in:   with("application/cloudevents+json; charset=utf-8", `{"id":"e2","data":"x"}`),
			want: map[string]any{"id": "e2", "source": "Dapr", "type": "com.dapr.event.sent", "specversion": "1.0",
				"time": "2026-03-04T05:06:07Z", "topic": "orders", "pubsubname": "pubsub", "traceid": testTP,
				"traceparent": testTP, "tracestate": testTS, "data": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newEnvelope(tt.in, tt.metadata, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tt.want["id"]; !ok {
				if id, _ := got["id"].(string); len(id) != 36 {
					t.Errorf("id = %q, want a UUID", got["id"])
				}
				delete(got, "id")
			}
			compareFields(t, got, tt.want)
		})
	}
}

func compareFields(t *testing.T, got, want map[string]any) {
	t.Helper()
	gj, _ := json.Marshal(got)
	for k, w := range want {
		g, ok := got[k]
		wj, _ := json.Marshal(w)
		vj, _ := json.Marshal(g)
		if !ok || string(wj) != string(vj) {
			t.Errorf("%s = %s, want %s (event %s)", k, vj, wj, gj)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attribute %s in %s", k, gj)
		}
	}
}

func TestNewEnvelopeRefusesABadCloudEvent(t *testing.T) {
	for _, body := range []string{`{"id":`, `null`, `[1]`} {
		in := eventInput{Topic: "t", Pubsub: "p", DataContentType: ContentTypeCloudEvent, Data: []byte(body)}
		if _, err := newEnvelope(in, nil, testNow); err == nil {
			t.Errorf("body %s: no error", body)
		}
	}
}

func TestTTL(t *testing.T) {
	tests := []struct {
		md      map[string]string
		want    time.Duration
		ok, bad bool
	}{
		{md: nil},
		{md: map[string]string{"ttlInSeconds": "10"}, want: 10 * time.Second, ok: true},
		{md: map[string]string{"TTLINSECONDS": "3"}, want: 3 * time.Second, ok: true},
		{md: map[string]string{"ttl": "1m"}, want: time.Minute, ok: true},
		{md: map[string]string{"ttl": "-5s"}, want: 0, ok: true},
		{md: map[string]string{"ttlInSeconds": "0"}, want: 0, ok: true}, // a Go duration, as daprd reads it
		{md: map[string]string{"ttlInSeconds": "-3"}, bad: true},
		{md: map[string]string{"ttlInSeconds": "soon"}, bad: true},
	}
	for _, tt := range tests {
		got, ok, err := TTL(tt.md)
		if (err != nil) != tt.bad || ok != tt.ok || got != tt.want {
			t.Errorf("TTL(%v) = %v, %v, %v; want %v, %v, error %v", tt.md, got, ok, err, tt.want, tt.ok, tt.bad)
		}
	}
}

func TestExpirationAndExpired(t *testing.T) {
	exp, err := expirationOf(map[string]string{"ttlInSeconds": "30"}, false, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if exp != "2026-03-04T05:06:37Z" {
		t.Fatalf("expiration = %v", exp)
	}
	if expired(exp, testNow.Add(29*time.Second)) || !expired(exp, testNow.Add(31*time.Second)) {
		t.Error("expiry not at the expiration")
	}
	// A broker that expires messages itself gets no expiration attribute.
	if exp, err := expirationOf(map[string]string{"ttlInSeconds": "30"}, true, testNow); err != nil || exp != "" {
		t.Errorf("broker TTL: %q, %v", exp, err)
	}
	if expired("not a time", testNow) || expired("", testNow) {
		t.Error("an unparsable expiration expired")
	}
}

func TestRawPayload(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "false": false, "TRUE": true} {
		got, err := rawPayload(map[string]string{"rawPayload": v})
		if err != nil || got != want {
			t.Errorf("rawPayload %q = %v, %v", v, got, err)
		}
	}
	if _, err := rawPayload(map[string]string{"rawPayload": "yes"}); err == nil {
		t.Error("rawPayload yes accepted; daprd refuses it")
	}
}
