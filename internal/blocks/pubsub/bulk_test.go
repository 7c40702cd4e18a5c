package pubsub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub/conformance"
	"github.com/cove-env/cove/internal/components/pubsub/redis"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const redisAddr = "127.0.0.1:6379"

// redisService is a Service for appID on the real Redis with daprd's ten
// workers per subscription (or concurrency, when given); topic is a fresh
// stream removed with the test.
func redisService(t *testing.T, appID string, concurrency ...string) (s *Service, topic string) {
	t.Helper()
	stateconformance.NeedService(t, "Redis", redisAddr)
	props := map[string]string{"redisHost": redisAddr, "concurrency": "10", "processingTimeout": "1000", "redeliverInterval": "200ms"}
	if len(concurrency) > 0 {
		props["concurrency"] = concurrency[0]
	}
	broker := conformance.MustOpen(t, redis.Type, props)
	s = New(appID, Options{})
	if err := s.Add(components.Metadata{Name: "pubsub", Type: redis.Type, Version: "v1", Properties: props}, broker); err != nil {
		t.Fatal(err)
	}
	topic = fmt.Sprintf("cove-bulk-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: redisAddr})
		defer c.Close()
		_ = c.Del(context.Background(), topic).Err()
	})
	return s, topic
}

// bulkApp is an HTTP app that records the batches it is sent and answers
// each entry with status(data of its event, how often it saw it); "" leaves
// the entry out of the answer.
type bulkApp struct {
	mu      sync.Mutex
	batches []bulkBody
	headers []http.Header
	seen    map[string]int // by event data
	final   map[string]string
	status  func(data string, n int) string
}

func newBulkApp(t *testing.T, status func(string, int) string) (*bulkApp, *HTTPApp) {
	a := &bulkApp{seen: map[string]int{}, final: map[string]string{}, status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b bulkBody
		if err := json.Unmarshal(raw, &b); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.batches = append(a.batches, b)
		a.headers = append(a.headers, r.Header.Clone())
		var ans struct {
			Statuses []map[string]string `json:"statuses"`
		}
		for _, e := range b.Entries {
			ev, _ := e.Event.(map[string]any)
			data, _ := ev["data"].(string)
			a.seen[data]++
			if st := a.status(data, a.seen[data]); st != "" {
				a.final[data] = st
				ans.Statuses = append(ans.Statuses, map[string]string{"entryId": e.EntryID, "status": st})
			}
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(srv.Close)
	return a, &HTTPApp{Addr: strings.TrimPrefix(srv.URL, "http://")}
}

func (a *bulkApp) wait(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		ok := done()
		a.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not done within 10s: seen %v", a.seen)
}

func bulkSub(t *testing.T, topic string, bulk *Bulk) Subscription {
	s := mustSub(t, topic, nil, "batch", "")
	s.Bulk = bulk
	return s
}

func TestBulkSubscribeHTTP(t *testing.T) {
	s, topic := redisService(t, "bulk-http")
	// "retry" is answered RETRY once, "missing" left out of the first
	// answer, "drop" dropped; every other event succeeds at once.
	a, ch := newBulkApp(t, func(data string, n int) string {
		switch {
		case data == "retry" && n == 1:
			return "RETRY"
		case data == "missing" && n == 1:
			return ""
		case data == "drop":
			return "DROP"
		}
		return "SUCCESS"
	})
	subscribe(t, s, ch, bulkSub(t, topic, &Bulk{MaxMessages: 5, MaxAwait: 300 * time.Millisecond}))
	datas := []string{"retry", "missing", "drop"}
	for i := range 9 {
		datas = append(datas, fmt.Sprintf("e%d", i))
	}
	for _, d := range datas {
		if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: topic, Data: []byte(d), ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	a.wait(t, func() bool {
		for _, d := range datas {
			if st := a.final[d]; st != "SUCCESS" && st != "DROP" {
				return false
			}
		}
		return true
	})
	time.Sleep(1500 * time.Millisecond) // a wrongly unacknowledged event would be redelivered by now
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen["retry"] != 2 || a.seen["missing"] != 2 {
		t.Errorf("RETRY and missing entries seen %d and %d times, want 2 each", a.seen["retry"], a.seen["missing"])
	}
	if a.seen["drop"] != 1 || a.seen["e0"] != 1 {
		t.Errorf("DROP and SUCCESS entries seen %d and %d times, want once", a.seen["drop"], a.seen["e0"])
	}
	most := 0
	for i, b := range a.batches {
		most = max(most, len(b.Entries))
		if len(b.Entries) > 5 {
			t.Errorf("batch of %d entries, maxMessagesCount is 5", len(b.Entries))
		}
		if b.ID == "" || b.Type != BulkEventType || b.Topic != topic || b.Pubsub != "pubsub" || b.Metadata["pubsubName"] != "pubsub" {
			t.Errorf("batch envelope = %+v", b)
		}
		if h := a.headers[i]; h.Get("Content-Type") != "application/json" || h.Get("Pubsubname") != "pubsub" {
			t.Errorf("batch headers = %v", h)
		}
		for _, e := range b.Entries {
			ev, _ := e.Event.(map[string]any)
			if e.EntryID == "" || e.ContentType != ContentTypeCloudEvent || ev["topic"] != topic || ev["source"] != "bulk-http" || ev["specversion"] != "1.0" {
				t.Errorf("entry = %+v", e)
			}
		}
	}
	if most < 2 {
		t.Errorf("the largest batch had %d entries: events were not batched", most)
	}
}

// TestBulkSubscribeFillsABatch: with one worker per subscription
// (concurrency 1) a batch still fills to maxMessagesCount from what the
// broker holds, instead of going out with one event when its wait runs out.
func TestBulkSubscribeFillsABatch(t *testing.T) {
	s, topic := redisService(t, "bulk-fill", "1")
	a, ch := newBulkApp(t, func(string, int) string { return "SUCCESS" })
	const n = 40
	for i := range n {
		if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: topic, Data: []byte(fmt.Sprint(i)), ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	subscribe(t, s, ch, bulkSub(t, topic, &Bulk{MaxMessages: n, MaxAwait: 5 * time.Second}))
	a.wait(t, func() bool { return len(a.seen) == n })
	if d := time.Since(start); d >= 5*time.Second {
		t.Errorf("%d events took %v: the batch waited out maxAwaitDuration", n, d)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.batches) != 1 {
		sizes := make([]int, len(a.batches))
		for i, b := range a.batches {
			sizes[i] = len(b.Entries)
		}
		t.Errorf("batches of %v entries, want one of %d", sizes, n)
	}
}

// TestBulkSubscribeHTTPFailures: a batch the app answers with 500 comes
// again; a 404 drops it.
func TestBulkSubscribeHTTPFailures(t *testing.T) {
	for _, tt := range []struct {
		code  int
		again bool
	}{{500, true}, {404, false}} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			s, topic := redisService(t, "bulk-fail")
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if calls++; calls == 1 {
					w.WriteHeader(tt.code)
					return
				}
				_, _ = io.WriteString(w, `{"statuses":[]}`) // every entry left out: retried
			}))
			t.Cleanup(srv.Close)
			subscribe(t, s, &HTTPApp{Addr: strings.TrimPrefix(srv.URL, "http://")}, bulkSub(t, topic, &Bulk{MaxMessages: 10, MaxAwait: 50 * time.Millisecond}))
			if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: topic, Data: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			mu.Lock()
			defer mu.Unlock()
			if got := calls > 1; got != tt.again {
				t.Errorf("after %d: %d calls; delivered again = %v, want %v", tt.code, calls, got, tt.again)
			}
		})
	}
}

// alphaApp serves only OnBulkTopicEventAlpha1, as older SDKs do, and
// answers every entry with SUCCESS but the first one of each batch RETRY
// the first time it sees it.
type alphaApp struct {
	runtimev1pb.UnimplementedAppCallbackAlphaServer
	mu   sync.Mutex
	reqs []*runtimev1pb.TopicEventBulkRequest
	seen map[string]int
}

func (a *alphaApp) OnBulkTopicEventAlpha1(_ context.Context, req *runtimev1pb.TopicEventBulkRequest) (*runtimev1pb.TopicEventBulkResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, req)
	resp := &runtimev1pb.TopicEventBulkResponse{}
	for _, e := range req.GetEntries() {
		data := string(e.GetCloudEvent().GetData())
		a.seen[data]++
		st := runtimev1pb.TopicEventResponse_SUCCESS
		if data == "retry" && a.seen[data] == 1 {
			st = runtimev1pb.TopicEventResponse_RETRY
		}
		resp.Statuses = append(resp.Statuses, &runtimev1pb.TopicEventBulkResponseEntry{EntryId: e.GetEntryId(), Status: st})
	}
	return resp, nil
}

func TestBulkSubscribeGRPC(t *testing.T) {
	s, topic := redisService(t, "bulk-grpc")
	a := &alphaApp{seen: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimev1pb.RegisterAppCallbackAlphaServer(srv, a)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	sub := bulkSub(t, topic, &Bulk{MaxMessages: 4, MaxAwait: 200 * time.Millisecond})
	sub.Rules = []Rule{{}} // a gRPC app's route has no path
	subscribe(t, s, &GRPCApp{Conn: conn}, sub)
	datas := []string{"retry", "a", "b", "c", "d", "e"}
	for _, d := range datas {
		if err := s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: topic, Data: []byte(d), ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		done := a.seen["retry"] == 2
		for _, d := range datas[1:] {
			done = done && a.seen[d] == 1
		}
		a.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			a.mu.Lock()
			t.Fatalf("seen %v, want retry twice and the rest once", a.seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.reqs {
		if r.GetId() == "" || r.GetType() != BulkEventType || r.GetTopic() != topic || r.GetPubsubName() != "pubsub" || len(r.GetEntries()) > 4 {
			t.Errorf("request = %v", r)
		}
		for _, e := range r.GetEntries() {
			ce := e.GetCloudEvent()
			if e.GetEntryId() == "" || ce.GetId() == "" || ce.GetSource() != "bulk-grpc" || ce.GetDataContentType() != "text/plain" {
				t.Errorf("entry = %v", e)
			}
		}
	}
}

// TestEncodeBulk: a batch written with each event's JSON as delivery read
// it is the batch encoded whole, for CloudEvents as read, events without
// their JSON and raw payloads.
func TestEncodeBulk(t *testing.T) {
	ce := []byte(`{"specversion": "1.0", "id": "a", "data": {"n": 1.50, "s": "\u00e9\"<"}}`)
	var ev map[string]any
	if err := json.Unmarshal(ce, &ev); err != nil {
		t.Fatal(err)
	}
	b := &BulkDelivery{Pubsub: "ps", Topic: "t\"1", Metadata: map[string]string{"pubsubName": "ps"}, Entries: []BulkEventEntry{
		{EntryID: "1", Event: ev, Data: ce, ContentType: ContentTypeCloudEvent, Metadata: map[string]string{"k": "v\n"}},
		{EntryID: "2", Event: map[string]any{"id": "b", "data": []any{1.0, "x"}}},
		{EntryID: "3", Event: ev, Raw: []byte{0, 1, 2, 250}, ContentType: "application/octet-stream"},
	}}
	got, err := encodeBulk(b)
	if err != nil {
		t.Fatal(err)
	}
	var gotV map[string]any
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	want := map[string]any{"id": gotV["id"], "type": BulkEventType, "topic": "t\"1", "pubsubname": "ps",
		"metadata": map[string]string{"pubsubName": "ps"}, "entries": []map[string]any{
			{"entryId": "1", "event": ev, "metadata": map[string]string{"k": "v\n"}, "contentType": ContentTypeCloudEvent},
			{"entryId": "2", "event": b.Entries[1].Event, "metadata": nil},
			{"entryId": "3", "event": "AAEC+g==", "metadata": nil, "contentType": "application/octet-stream"},
		}}
	wantJSON, _ := json.Marshal(want)
	var wantV map[string]any
	_ = json.Unmarshal(wantJSON, &wantV)
	if id, _ := gotV["id"].(string); id == "" {
		t.Errorf("the batch has no id: %s", got)
	}
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("batch\n got %s\nwant %s", got, wantJSON)
	}
}

// BenchmarkEncodeBulk: a batch of 100 CloudEvents as the bench app
// publishes them, written with each event's JSON as read ("as read")
// against the whole batch encoded with its events' maps ("maps").
func BenchmarkEncodeBulk(b *testing.B) {
	env, err := newEnvelope(eventInput{Source: "app", Topic: "t", Pubsub: "ps", DataContentType: contentTypeJSON,
		Data: []byte(`{"t":1765151000000000000}`)}, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ce, _ := json.Marshal(env)
	d := &BulkDelivery{Pubsub: "ps", Topic: "t", Metadata: map[string]string{"pubsubName": "ps"}}
	for i := range 100 {
		var ev map[string]any
		_ = json.Unmarshal(ce, &ev)
		d.Entries = append(d.Entries, BulkEventEntry{EntryID: fmt.Sprint(i), Event: ev, Data: ce, ContentType: ContentTypeCloudEvent})
	}
	b.Run("as read", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeBulk(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("maps", func(b *testing.B) {
		for b.Loop() {
			body := bulkBody{ID: "x", Type: BulkEventType, Topic: d.Topic, Pubsub: d.Pubsub, Metadata: d.Metadata, Entries: make([]bulkItem, len(d.Entries))}
			for i, e := range d.Entries {
				body.Entries[i] = bulkItem{EntryID: e.EntryID, Event: e.Event, ContentType: e.ContentType}
			}
			if _, err := json.Marshal(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
