package sidecar

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/pubsub"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub/inmemory"
)

// newPubsub returns a pub/sub block for appID over bus, named "pubsub".
func newPubsub(t *testing.T, appID string, bus *inmemory.Bus, props map[string]string) *pubsub.Service {
	t.Helper()
	s := pubsub.New(appID, pubsub.Options{})
	md := components.Metadata{Name: "pubsub", Type: inmemory.Type, Version: "v1", Properties: props}
	if err := s.Add(md, bus); err != nil {
		t.Fatal(err)
	}
	return s
}

func newBus(t *testing.T) *inmemory.Bus {
	t.Helper()
	bus := inmemory.New()
	if err := bus.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	return bus
}

// subscriberApp serves GET /dapr/subscribe with subs and sends every event
// it receives, with its request's path and headers, to the channel.
type delivered struct {
	path   string
	header http.Header
	event  map[string]any
}

func subscriberApp(t *testing.T, subs string) (addr string, got chan delivered) {
	t.Helper()
	got = make(chan delivered, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dapr/subscribe" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, subs)
			return
		}
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		got <- delivered{r.URL.Path, r.Header.Clone(), ev}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), got
}

func waitDelivery(t *testing.T, got chan delivered) delivered {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("nothing delivered to the app within 5s")
		return delivered{}
	}
}

// TestPublishOverHTTPReachesTheSubscriber: one app publishes through its
// sidecar's HTTP API; another app, which subscribed through GET
// /dapr/subscribe, receives the CloudEvent at its route; the metadata API
// lists the subscription and the component.
func TestPublishOverHTTPReachesTheSubscriber(t *testing.T) {
	bus := newBus(t)
	addr, got := subscriberApp(t, `[{"pubsubname":"pubsub","topic":"patient-admitted","route":"/admitted"}]`)
	sub := newEnv(t, Config{AppID: "notifier", AppAddr: addr, Pubsub: newPubsub(t, "notifier", bus, nil),
		Subscriptions: []pubsub.Subscription{mustDeclarative(t, "declared", "/declared")}})
	pub := newEnv(t, Config{AppID: "backend", Pubsub: newPubsub(t, "backend", bus, nil)})

	waitSubscribed(t, sub, 2)
	resp, body := do(t, http.MethodPost, pub.url+"/v1.0/publish/pubsub/patient-admitted", `{"id":"p1"}`,
		http.Header{"Content-Type": {"application/json"}, "Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish: %d %s", resp.StatusCode, body)
	}
	d := waitDelivery(t, got)
	if d.path != "/admitted" || d.header.Get("Content-Type") != "application/cloudevents+json" || d.header.Get("Pubsubname") != "pubsub" {
		t.Errorf("delivery %s %v", d.path, d.header)
	}
	if !strings.HasPrefix(d.header.Get("Traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Errorf("traceparent %q, want the publisher's trace", d.header.Get("Traceparent"))
	}
	if d.event["source"] != "backend" || d.event["topic"] != "patient-admitted" || d.event["type"] != "com.dapr.event.sent" {
		t.Errorf("event = %v", d.event)
	}
	if data, _ := d.event["data"].(map[string]any); data["id"] != "p1" {
		t.Errorf("data = %v", d.event["data"])
	}

	// A declarative subscription is delivered too.
	resp, _ = do(t, http.MethodPost, pub.url+"/v1.0/publish/pubsub/declared?metadata.cloudevent.type=custom", `hi`, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	if d := waitDelivery(t, got); d.path != "/declared" || d.event["type"] != "custom" || d.event["data"] != "hi" {
		t.Errorf("declarative delivery %s %v", d.path, d.event)
	}

	md := sub.sc.Metadata()
	var topics []string
	for _, s := range md.Subscriptions {
		topics = append(topics, s.Topic+":"+s.Type+":"+s.Rules[0].Path)
	}
	if strings.Join(topics, " ") != "patient-admitted:PROGRAMMATIC:/admitted declared:DECLARATIVE:/declared" {
		t.Errorf("metadata subscriptions = %v", topics)
	}
	if len(md.RegisteredComponents) != 1 || md.RegisteredComponents[0].Type != "pubsub.in-memory" {
		t.Errorf("metadata components = %+v", md.RegisteredComponents)
	}
}

func mustDeclarative(t *testing.T, topic, route string) pubsub.Subscription {
	t.Helper()
	s, err := pubsub.NewSubscription("pubsub", topic, nil, route, "", nil, pubsub.TypeDeclarative)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitSubscribed waits until the sidecar has subscribed n topics.
func waitSubscribed(t *testing.T, e *testEnv, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.sc.subscriptions()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("subscribed %d topics, want %d", len(e.sc.subscriptions()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishErrorsOverHTTP(t *testing.T) {
	bus := newBus(t)
	e := newEnv(t, Config{Pubsub: newPubsub(t, "frontend", bus, map[string]string{"allowedTopics": "orders"})})
	tests := []struct {
		path, body string
		status     int
		code       string
	}{
		{path: "/v1.0/publish/nope/orders", status: 404, code: "ERR_PUBSUB_NOT_FOUND"},
		{path: "/v1.0/publish/pubsub/secret", status: 403, code: "ERR_PUBSUB_FORBIDDEN"},
		{path: "/v1.0/publish/pubsub/orders?metadata.rawPayload=maybe", status: 400, code: "ERR_PUBSUB_REQUEST_METADATA"},
		{path: "/v1.0-alpha1/publish/bulk/pubsub/orders", body: `{`, status: 400, code: "ERR_PUBSUB_EVENTS_SER"},
		{path: "/v1.0-alpha1/publish/bulk/pubsub/orders", body: `[{"entryId":"1","event":{"a":1},"contentType":"text/plain"}]`, status: 400, code: "ERR_PUBSUB_EVENTS_SER"},
		{path: "/v1.0-alpha1/publish/bulk/pubsub/orders", body: `[{"entryId":"1","event":"a","contentType":"text/plain"},{"entryId":"1","event":"b","contentType":"text/plain"}]`, status: 400, code: "ERR_PUBSUB_EVENTS_SER"},
		{path: "/v1.0-alpha1/publish/bulk/nope/orders", body: `[]`, status: 404, code: "ERR_PUBSUB_NOT_FOUND"},
	}
	for _, tt := range tests {
		body := tt.body
		if body == "" {
			body = "x"
		}
		resp, data := do(t, http.MethodPost, e.url+tt.path, body, nil)
		wantDaprError(t, resp, data, tt.status, tt.code)
	}
	resp, data := do(t, http.MethodPost, e.url+"/v1.0-alpha1/publish/bulk/pubsub/orders",
		`[{"entryId":"1","event":{"a":1},"contentType":"application/json"},{"entryId":"2","event":"AAE=","contentType":"application/octet-stream"}]`, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("bulk publish: %d %s", resp.StatusCode, data)
	}

	// A broker that is down: every entry fails, with the cause.
	down := newBus(t)
	_ = down.Close()
	e = newEnv(t, Config{Pubsub: newPubsub(t, "frontend", down, nil)})
	resp, data = do(t, http.MethodPost, e.url+"/v1.0-alpha1/publish/bulk/pubsub/orders",
		`[{"entryId":"1","event":"a","contentType":"text/plain"},{"entryId":"2","event":"b","contentType":"text/plain"}]`, nil)
	var ans struct {
		FailedEntries []struct{ EntryID, Error string } `json:"failedEntries"`
		ErrorCode     string                            `json:"errorCode"`
	}
	if err := json.Unmarshal(data, &ans); err != nil || resp.StatusCode != 500 || ans.ErrorCode != "ERR_PUBSUB_PUBLISH_MESSAGE" ||
		len(ans.FailedEntries) != 2 || !strings.Contains(ans.FailedEntries[0].Error, "closed") {
		t.Errorf("bulk publish to a closed broker: %d %s", resp.StatusCode, data)
	}
	resp, data = do(t, http.MethodPost, e.url+"/v1.0/publish/pubsub/orders", "x", nil)
	if msg := wantDaprError(t, resp, data, 500, "ERR_PUBSUB_PUBLISH_MESSAGE"); !strings.Contains(msg, "closed") {
		t.Errorf("message %q does not give the cause", msg)
	}
}

// TestSubscriptionsStopWithTheSidecar: after Close the app gets nothing
// more; the message goes to the group's next subscriber.
func TestSubscriptionsStopWithTheSidecar(t *testing.T) {
	bus := newBus(t)
	addr, got := subscriberApp(t, `[{"pubsubname":"pubsub","topic":"t","route":"/t"}]`)
	sub := newEnv(t, Config{AppID: "app", AppAddr: addr, Pubsub: newPubsub(t, "app", bus, nil)})
	waitSubscribed(t, sub, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.sc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	pub := newPubsub(t, "other", bus, nil)
	if err := pub.Publish(context.Background(), pubsub.PublishRequest{Pubsub: "pubsub", Topic: "t", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		t.Fatalf("a closed sidecar delivered %v", d)
	case <-time.After(300 * time.Millisecond):
	}
	// A second replica of the app, subscribing with the same group, gets it.
	addr2, got2 := subscriberApp(t, `[{"pubsubname":"pubsub","topic":"t","route":"/t"}]`)
	newEnv(t, Config{AppID: "app", AppAddr: addr2, Pubsub: newPubsub(t, "app", bus, nil)})
	waitDelivery(t, got2)
}

// TestDeliveriesWaitWhileTheAppIsUnhealthy: an event published while the
// app is unhealthy is delivered once it is healthy again, not before.
func TestDeliveriesWaitWhileTheAppIsUnhealthy(t *testing.T) {
	bus := newBus(t)
	addr, got := subscriberApp(t, `[{"pubsubname":"pubsub","topic":"t","route":"/t"}]`)
	sub := newEnv(t, Config{AppID: "app", AppAddr: addr, Pubsub: newPubsub(t, "app", bus, nil)})
	waitSubscribed(t, sub, 1)
	sub.sc.SetAppHealthy(false)
	sub.sc.SetAppHealthy(false) // twice is once
	pub := newPubsub(t, "other", bus, nil)
	if err := pub.Publish(context.Background(), pubsub.PublishRequest{Pubsub: "pubsub", Topic: "t", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		t.Fatalf("delivered to an unhealthy app: %v", d)
	case <-time.After(300 * time.Millisecond):
	}
	sub.sc.SetAppHealthy(true)
	if d := waitDelivery(t, got); d.event["data"] != "x" {
		t.Errorf("delivered %v", d.event)
	}
}

// TestStopSubscriptionsBeforeClose: after StopSubscriptions the sidecar
// takes no events, while its APIs still serve the app.
func TestStopSubscriptionsBeforeClose(t *testing.T) {
	bus := newBus(t)
	addr, got := subscriberApp(t, `[{"pubsubname":"pubsub","topic":"t","route":"/t"}]`)
	sub := newEnv(t, Config{AppID: "app", AppAddr: addr, Pubsub: newPubsub(t, "app", bus, nil)})
	waitSubscribed(t, sub, 1)
	sub.sc.StopSubscriptions()
	resp, body := do(t, http.MethodPost, sub.url+"/v1.0/publish/pubsub/t", "x", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish after StopSubscriptions: %d %s", resp.StatusCode, body)
	}
	select {
	case d := <-got:
		t.Fatalf("delivered after StopSubscriptions: %v", d)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestBulkSubscriptionOverHTTP: an app whose GET /dapr/subscribe asks for
// bulkSubscribe receives its events as daprd's bulk envelope at its route.
func TestBulkSubscriptionOverHTTP(t *testing.T) {
	bus := newBus(t)
	got := make(chan map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dapr/subscribe" {
			_, _ = io.WriteString(w, `[{"pubsubname":"pubsub","topic":"orders","route":"/batch",
				"bulkSubscribe":{"enabled":true,"maxMessagesCount":10,"maxAwaitDurationMs":100}}]`)
			return
		}
		var b map[string]any
		_ = json.NewDecoder(r.Body).Decode(&b)
		b["path"] = r.URL.Path
		got <- b
		var statuses []map[string]string
		entries, _ := b["entries"].([]any)
		for _, e := range entries {
			id, _ := e.(map[string]any)["entryId"].(string)
			statuses = append(statuses, map[string]string{"entryId": id, "status": "SUCCESS"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"statuses": statuses})
	}))
	t.Cleanup(srv.Close)
	sub := newEnv(t, Config{AppID: "orders", AppAddr: strings.TrimPrefix(srv.URL, "http://"), Pubsub: newPubsub(t, "orders", bus, nil)})
	pub := newEnv(t, Config{AppID: "backend", Pubsub: newPubsub(t, "backend", bus, nil)})
	waitSubscribed(t, sub, 1)
	if resp, body := do(t, http.MethodPost, pub.url+"/v1.0/publish/pubsub/orders", `{"id":"o1"}`,
		http.Header{"Content-Type": {"application/json"}}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish: %d %s", resp.StatusCode, body)
	}
	var b map[string]any
	select {
	case b = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no batch delivered within 5s")
	}
	entries, _ := b["entries"].([]any)
	if b["path"] != "/batch" || b["type"] != pubsub.BulkEventType || b["topic"] != "orders" || len(entries) != 1 {
		t.Fatalf("batch = %v", b)
	}
	ev, _ := entries[0].(map[string]any)["event"].(map[string]any)
	if data, _ := ev["data"].(map[string]any); data["id"] != "o1" || ev["source"] != "backend" {
		t.Errorf("entry event = %v", ev)
	}
}
