package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	cpubsub "github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/pubsub/inmemory"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// newBus returns an initialised in-memory broker, closed with the test.
func newBus(t *testing.T) *inmemory.Bus {
	t.Helper()
	b := inmemory.New()
	if err := b.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newService(t *testing.T, appID string, broker cpubsub.PubSub, props map[string]string) *Service {
	t.Helper()
	s := New(appID, Options{})
	if err := s.Add(components.Metadata{Name: "pubsub", Type: inmemory.Type, Version: "v1", Properties: props}, broker); err != nil {
		t.Fatal(err)
	}
	return s
}

// app is an HTTP app recording the events it receives and answering
// with answer(path, event).
type app struct {
	mu     sync.Mutex
	got    []received
	ch     chan received
	answer func(path string, ev map[string]any) (int, string)
}

type received struct {
	Path   string
	Header http.Header
	Event  map[string]any
}

func newApp(t *testing.T, answer func(string, map[string]any) (int, string)) (*app, *HTTPApp) {
	a := &app{ch: make(chan received, 100), answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		rec := received{Path: r.URL.Path, Header: r.Header.Clone(), Event: ev}
		a.mu.Lock()
		a.got = append(a.got, rec)
		a.mu.Unlock()
		a.ch <- rec
		code, out := http.StatusOK, ""
		if a.answer != nil {
			code, out = a.answer(r.URL.Path, ev)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(srv.Close)
	return a, &HTTPApp{Addr: strings.TrimPrefix(srv.URL, "http://")}
}

// failingApp answers its first fails deliveries with code and body, the
// later ones and every delivery to /dead with 200.
func failingApp(t *testing.T, fails, code int, body string) (*app, *HTTPApp) {
	var mu sync.Mutex
	calls := 0
	return newApp(t, func(path string, _ map[string]any) (int, string) {
		if path == "/dead" {
			return 200, ""
		}
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls <= fails {
			return code, body
		}
		return 200, ""
	})
}

func (a *app) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-a.ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no event delivered within 5s")
		return received{}
	}
}

func (a *app) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-a.ch:
		t.Fatalf("unexpected delivery to %s: %v", r.Path, r.Event)
	case <-time.After(d):
	}
}

func subscribe(t *testing.T, s *Service, ch AppChannel, subs ...Subscription) {
	t.Helper()
	sub, err := s.Subscribe(context.Background(), ch, subs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
}

func mustSub(t *testing.T, topic string, rules []Rule, def, dlq string) Subscription {
	t.Helper()
	s, err := NewSubscription("pubsub", topic, rules, def, dlq, nil, TypeDeclarative)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublishDeliversACloudEventToTheRoute(t *testing.T) {
	bus := newBus(t)
	pub := newService(t, "publisher", bus, nil)
	sub := newService(t, "subscriber", bus, nil)
	a, ch := newApp(t, nil)
	subscribe(t, sub, ch, mustSub(t, "orders", nil, "orders-handler", ""))

	err := pub.Publish(context.Background(), PublishRequest{
		Pubsub: "pubsub", Topic: "orders", Data: []byte(`{"id":"p1"}`), ContentType: "application/json",
		TraceParent: testTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := a.next(t)
	if got.Path != "/orders-handler" {
		t.Errorf("path = %s", got.Path)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("content type = %s", ct)
	}
	if got.Header.Get("Pubsubname") != "pubsub" || got.Header.Get("Traceparent") != testTP {
		t.Errorf("headers = %v", got.Header)
	}
	ev := got.Event
	if ev["source"] != "publisher" || ev["type"] != EventType || ev["topic"] != "orders" || ev["pubsubname"] != "pubsub" ||
		ev["traceparent"] != testTP || ev["datacontenttype"] != "application/json" {
		t.Errorf("event = %v", ev)
	}
	if d, _ := ev["data"].(map[string]any); d["id"] != "p1" {
		t.Errorf("data = %v", ev["data"])
	}
}

func TestRulesRouteByCEL(t *testing.T) {
	bus := newBus(t)
	s := newService(t, "app", bus, nil)
	a, ch := newApp(t, nil)
	r1, err := NewRule(`event.type == "widget"`, "widgets")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewRule(`event.data.size > 10`, "/big")
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, s, ch, mustSub(t, "things", []Rule{r1, r2}, "other", ""))
	publish := func(data string, md map[string]string) {
		t.Helper()
		if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "things",
			Data: []byte(data), ContentType: "application/json", Metadata: md}); err != nil {
			t.Fatal(err)
		}
		_ = a.next(t)
	}
	publish(`{"size":1}`, map[string]string{"cloudevent.type": "widget"})
	publish(`{"size":20}`, nil)
	publish(`{"size":2}`, nil)
	a.mu.Lock()
	defer a.mu.Unlock()
	var paths []string
	for _, r := range a.got {
		paths = append(paths, r.Path)
	}
	if strings.Join(paths, " ") != "/widgets /big /other" {
		t.Errorf("paths = %v", paths)
	}
}

func TestARuleThatDoesNotCompileIsRefused(t *testing.T) {
	if _, err := NewRule(`event.type ==`, "x"); err == nil {
		t.Fatal("no error")
	}
}

func TestNoMatchingRouteIsNotDelivered(t *testing.T) {
	bus := newBus(t)
	s := newService(t, "app", bus, nil)
	a, ch := newApp(t, nil)
	r, _ := NewRule(`event.type == "nothing"`, "x")
	subscribe(t, s, ch, mustSub(t, "t1", []Rule{r}, "", ""))
	if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "t1", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	a.none(t, 300*time.Millisecond)
}

func TestAppAnswers(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		body      string
		redeliver bool // the same event comes again
		dead      bool // it goes to the dead-letter topic
		noDLQ     bool // subscribed without a dead-letter topic
	}{
		{name: "empty 200 acks", code: 200},
		{name: "SUCCESS acks", code: 200, body: `{"status":"SUCCESS"}`},
		{name: "not JSON acks", code: 204, body: ``},
		{name: "RETRY redelivers", code: 200, body: `{"status":"RETRY"}`, redeliver: true, noDLQ: true},
		{name: "unknown status redelivers", code: 200, body: `{"status":"MAYBE"}`, redeliver: true, noDLQ: true},
		{name: "500 redelivers", code: 500, redeliver: true, noDLQ: true},
		// With a dead-letter topic and no inbound policy left to retry,
		// daprd sends a failed delivery there instead.
		{name: "RETRY with a dead-letter topic goes there", code: 200, body: `{"status":"RETRY"}`, dead: true},
		{name: "DROP without a dead-letter topic is gone", code: 200, body: `{"status":"DROP"}`, noDLQ: true},
		{name: "DROP to dead letters", code: 200, body: `{"status":"DROP"}`, dead: true},
		{name: "404 to dead letters", code: 404, dead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := newBus(t)
			s := newService(t, "app", bus, nil)
			a, ch := failingApp(t, 1, tt.code, tt.body)
			dlq := "poison"
			if tt.noDLQ {
				dlq = ""
			}
			subscribe(t, s, ch, mustSub(t, "work", nil, "work", dlq), mustSub(t, "poison", nil, "dead", ""))
			if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "work", Data: []byte("job")}); err != nil {
				t.Fatal(err)
			}
			first := a.next(t)
			switch {
			case tt.redeliver:
				again := a.next(t)
				if again.Path != "/work" || again.Event["id"] != first.Event["id"] {
					t.Errorf("second delivery %s %v, want the same event on /work", again.Path, again.Event["id"])
				}
			case tt.dead:
				dead := a.next(t)
				if dead.Path != "/dead" || dead.Event["id"] != first.Event["id"] || dead.Event["topic"] != "work" {
					t.Errorf("dead letter %s %v, want the event as published", dead.Path, dead.Event)
				}
			}
			a.none(t, 200*time.Millisecond)
		})
	}
}

func TestExpiredEventsAreNotDelivered(t *testing.T) {
	bus := newBus(t)
	now := time.Now()
	clock := func() time.Time { return now }
	s := New("app", Options{Now: func() time.Time { return clock() }})
	if err := s.Add(components.Metadata{Name: "pubsub"}, bus); err != nil {
		t.Fatal(err)
	}
	a, ch := newApp(t, nil)
	// Publish with a TTL of 1s, then deliver as if 2s later.
	if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "t", Data: []byte("old"),
		Metadata: map[string]string{"ttlInSeconds": "1"}}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Second)
	clock = func() time.Time { return later }
	subscribe(t, s, ch, mustSub(t, "t", nil, "t", ""))
	if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "t", Data: []byte("fresh"),
		Metadata: map[string]string{"ttlInSeconds": "60"}}); err != nil {
		t.Fatal(err)
	}
	got := a.next(t)
	if got.Event["data"] != "fresh" {
		t.Errorf("delivered %v, want only the fresh event", got.Event["data"])
	}
	if got.Event["expiration"] == nil {
		t.Error("no expiration attribute")
	}
	a.none(t, 200*time.Millisecond)
}

func TestRawPayloadSubscription(t *testing.T) {
	bus := newBus(t)
	s := newService(t, "app", bus, nil)
	a, ch := newApp(t, nil)
	sc := mustSub(t, "raw", nil, "raw", "")
	sc.Metadata = map[string]string{"rawPayload": "true"}
	subscribe(t, s, ch, sc)
	if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "raw", Data: []byte("plain bytes"),
		Metadata: map[string]string{"rawPayload": "true"}}); err != nil {
		t.Fatal(err)
	}
	got := a.next(t)
	if got.Event["data_base64"] != "cGxhaW4gYnl0ZXM=" || got.Event["datacontenttype"] != "application/octet-stream" {
		t.Errorf("event = %v", got.Event)
	}
}

func TestPublishErrors(t *testing.T) {
	bus := newBus(t)
	s := newService(t, "app", bus, map[string]string{
		"allowedTopics":    "a, b, secret, mine",
		"protectedTopics":  "secret",
		"publishingScopes": "other=b;app=mine,secret",
	})
	down := newBus(t)
	_ = down.Close()
	if err := s.Add(components.Metadata{Name: "down"}, down); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pubsub, topic string
		md            map[string]string
		ct            string
		body          string
		code          string
		status        int
	}{
		{pubsub: "", topic: "a", code: "ERR_PUBSUB_EMPTY", status: 404},
		{pubsub: "nope", topic: "a", code: "ERR_PUBSUB_NOT_FOUND", status: 404},
		{pubsub: "pubsub", topic: "", code: "ERR_TOPIC_NAME_EMPTY", status: 404},
		{pubsub: "pubsub", topic: "a", md: map[string]string{"rawPayload": "yes"}, code: "ERR_PUBSUB_REQUEST_METADATA", status: 400},
		{pubsub: "pubsub", topic: "mine", ct: ContentTypeCloudEvent, body: "{", code: "ERR_PUBSUB_CLOUD_EVENTS_SER", status: 500},
		{pubsub: "pubsub", topic: "c", code: "ERR_PUBSUB_FORBIDDEN", status: 403},     // not in allowedTopics
		{pubsub: "pubsub", topic: "a", code: "ERR_PUBSUB_FORBIDDEN", status: 403},     // the app has a scope list without it
		{pubsub: "down", topic: "a", code: "ERR_PUBSUB_PUBLISH_MESSAGE", status: 500}, // broker closed
		{pubsub: "pubsub", topic: "mine"},
		{pubsub: "pubsub", topic: "secret"},
	}
	for _, tt := range tests {
		body := tt.body
		if body == "" {
			body = "x"
		}
		err := s.Publish(context.Background(), PublishRequest{Pubsub: tt.pubsub, Topic: tt.topic, Metadata: tt.md,
			ContentType: tt.ct, Data: []byte(body)})
		if tt.code == "" {
			if err != nil {
				t.Errorf("%s/%s: %v", tt.pubsub, tt.topic, err)
			}
			continue
		}
		var de *daprerr.Error
		if !errors.As(err, &de) || de.Kind.Code != tt.code || de.Status() != tt.status {
			t.Errorf("%s/%s: error %v, want %s (%d)", tt.pubsub, tt.topic, err, tt.code, tt.status)
		}
	}
	err := s.Publish(context.Background(), PublishRequest{Pubsub: "down", Topic: "a", Data: []byte("x")})
	if !errors.Is(err, cpubsub.ErrClosed) || !strings.Contains(err.Error(), "error when publishing to topic a in pubsub down") {
		t.Errorf("broker down: %v, want the cause", err)
	}
}

func TestScopes(t *testing.T) {
	sc := scopesFor("app1", map[string]string{
		"allowedTopics":      "t1,t2,t3,t4",
		"protectedTopics":    "t3",
		"publishingScopes":   "app1=t1,t3;app2=t2",
		"SubscriptionScopes": "app2=t1",
	})
	for topic, want := range map[string]bool{"t1": true, "t2": false, "t3": true, "t4": false, "t5": false} {
		if got := sc.publishes(topic); got != want {
			t.Errorf("publish %s = %v, want %v", topic, got, want)
		}
	}
	// app1 has no subscription scope: anything allowed but protected.
	for topic, want := range map[string]bool{"t1": true, "t3": false, "t5": false} {
		if got := sc.subscribes(topic); got != want {
			t.Errorf("subscribe %s = %v, want %v", topic, got, want)
		}
	}
	open := scopesFor("x", nil)
	if !open.publishes("any") || !open.subscribes("any") {
		t.Error("no scopes must allow every topic")
	}
}

func TestSubscriptionScopesSkipATopic(t *testing.T) {
	bus := newBus(t)
	s := newService(t, "app", bus, map[string]string{"subscriptionScopes": "app=allowed"})
	_, ch := newApp(t, nil)
	sub, err := s.Subscribe(context.Background(), ch, []Subscription{mustSub(t, "allowed", nil, "a", ""), mustSub(t, "denied", nil, "d", "")})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if got := sub.Subscriptions(); len(got) != 1 || got[0].Topic != "allowed" {
		t.Errorf("subscriptions = %v", got)
	}
}

func TestReplicasShareAndAppsFanOut(t *testing.T) {
	bus := newBus(t)
	pub := newService(t, "pub", bus, nil)
	subA := newService(t, "a", bus, nil)
	subB := newService(t, "b", bus, nil)
	a1, ch1 := newApp(t, nil)
	a2, ch2 := newApp(t, nil)
	b, chb := newApp(t, nil)
	subscribe(t, subA, ch1, mustSub(t, "fan", nil, "x", ""))
	subscribe(t, subA, ch2, mustSub(t, "fan", nil, "x", ""))
	subscribe(t, subB, chb, mustSub(t, "fan", nil, "x", ""))
	const n = 20
	for range n {
		if err := pub.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "fan", Data: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		_ = b.next(t)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a1.mu.Lock()
		a2.mu.Lock()
		total := len(a1.got) + len(a2.got)
		a2.mu.Unlock()
		a1.mu.Unlock()
		if total == n {
			break
		}
		if total > n || time.Now().After(deadline) {
			t.Fatalf("app a handled %d of %d messages", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseAppSubscriptions(t *testing.T) {
	body := `[
	 {"pubsubname":"pubsub","topic":"v1","route":"/v1route","metadata":{"rawPayload":"true"},"deadLetterTopic":"dl"},
	 {"pubsubname":"pubsub","topic":"v2","routes":{"rules":[{"match":"event.type == \"a\"","path":"/a"}],"default":"/d"}},
	 {"pubsubname":"","topic":"skipped","route":"/x"},
	 {"pubsubname":"pubsub","topic":"no-route"}
	]`
	subs, err := ParseAppSubscriptions([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 {
		t.Fatalf("subs = %v", subs)
	}
	if s := subs[0]; s.Topic != "v1" || len(s.Rules) != 1 || s.Rules[0].Path != "/v1route" || s.DeadLetterTopic != "dl" || s.Metadata["rawPayload"] != "true" {
		t.Errorf("v1 = %+v", s)
	}
	if s := subs[1]; len(s.Rules) != 2 || s.Rules[0].Match == "" || s.Rules[1].Path != "/d" {
		t.Errorf("v2 = %+v", s)
	}
	if _, err := ParseAppSubscriptions([]byte(`[{"pubsubname":"p","topic":"t","routes":{"rules":[{"match":"(","path":"/a"}]}}]`)); err == nil {
		t.Error("a bad rule was accepted")
	}
	if _, err := ParseAppSubscriptions([]byte(`{}`)); err == nil {
		t.Error("an object was accepted")
	}
}

// TestInboundPolicyRetriesBeforeTheBroker: a RETRY is retried under the
// component's inbound policy; only when that is spent does the event go
// on (here to the dead-letter topic).
func TestInboundPolicyRetriesBeforeTheBroker(t *testing.T) {
	for _, fails := range []int{2, 5} {
		bus := newBus(t)
		policy := &resiliency.Policy{Retry: &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: time.Millisecond, MaxRetries: 3}}
		s := New("app", Options{Inbound: func(string) *resiliency.Policy { return policy }})
		if err := s.Add(components.Metadata{Name: "pubsub"}, bus); err != nil {
			t.Fatal(err)
		}
		a, ch := failingApp(t, fails, 200, `{"status":"RETRY"}`)
		subscribe(t, s, ch, mustSub(t, "work", nil, "work", "poison"), mustSub(t, "poison", nil, "dead", ""))
		if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: "work", Data: []byte("job")}); err != nil {
			t.Fatal(err)
		}
		want := fails + 1 // delivered until it succeeds
		if fails > 3 {
			want = 4 // the first attempt and three retries, then the dead letter
		}
		for range want {
			if got := a.next(t); got.Path != "/work" {
				t.Fatalf("fails %d: delivery to %s, want /work", fails, got.Path)
			}
		}
		if fails > 3 {
			if got := a.next(t); got.Path != "/dead" {
				t.Fatalf("fails %d: delivery to %s, want the dead letter", fails, got.Path)
			}
		}
		a.none(t, 200*time.Millisecond)
	}
}
