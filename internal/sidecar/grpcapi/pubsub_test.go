package grpcapi_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprgrpc "github.com/dapr/go-sdk/service/grpc"
	daprhttp "github.com/dapr/go-sdk/service/http"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cove-env/cove/internal/blocks/pubsub"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pubsub/inmemory"
	"github.com/cove-env/cove/internal/sidecar"
)

// pubsubSidecar starts a sidecar for appID with a pub/sub block over bus;
// appAddr and protocol say where its app is ("" for none).
func pubsubSidecar(t *testing.T, appID string, bus *inmemory.Bus, appAddr, protocol string) (grpcAddr string) {
	t.Helper()
	ps := pubsub.New(appID, pubsub.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := ps.Add(components.Metadata{Name: "pubsub", Type: inmemory.Type, Version: "v1"}, bus); err != nil {
		t.Fatal(err)
	}
	hl, gl := listen(t), listen(t)
	sc := startSidecar(t, sidecar.Config{
		AppID: appID, AppAddr: appAddr, AppProtocol: protocol, HTTPListener: hl, GRPCListener: gl,
		Pubsub: ps, Logger: slog.New(slog.DiscardHandler),
	})
	waitFor(t, func() bool { return appAddr == "" || len(sc.Metadata().Subscriptions) > 0 })
	return gl.Addr().String()
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sdkSubscriber starts a Go SDK service (service/grpc or service/http)
// with one topic handler on "orders" and returns its address and what it
// received.
func sdkSubscriber(t *testing.T, kind string) (string, chan *common.TopicEvent) {
	t.Helper()
	got := make(chan *common.TopicEvent, 16)
	var svc common.Service
	var addr string
	if kind == "grpc" {
		l := listen(t)
		addr = l.Addr().String()
		svc = daprgrpc.NewServiceWithListener(l)
	} else {
		l := listen(t)
		addr = l.Addr().String()
		_ = l.Close() // the SDK's HTTP service listens itself
		svc = daprhttp.NewService(addr)
	}
	err := svc.AddTopicEventHandler(&common.Subscription{PubsubName: "pubsub", Topic: "orders", Route: "/orders"},
		func(_ context.Context, e *common.TopicEvent) (bool, error) {
			got <- e
			return false, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start() }()
	t.Cleanup(func() { _ = svc.Stop() })
	waitFor(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return addr, got
}

// TestGoSDKPublishAndSubscribe: the official Go SDK publishes one event and
// a bulk of events through the gRPC API; Go SDK subscribers on service/grpc
// (ListTopicSubscriptions, OnTopicEvent) and service/http (GET
// /dapr/subscribe, POST to the route) receive every one.
func TestGoSDKPublishAndSubscribe(t *testing.T) {
	bus := inmemory.New()
	if err := bus.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	grpcApp, grpcGot := sdkSubscriber(t, "grpc")
	httpApp, httpGot := sdkSubscriber(t, "http")
	pubsubSidecar(t, "grpc-sub", bus, grpcApp, "grpc")
	pubsubSidecar(t, "http-sub", bus, httpApp, "http")
	c, err := dapr.NewClientWithAddressContext(t.Context(), pubsubSidecar(t, "publisher", bus, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	if err := c.PublishEvent(t.Context(), "pubsub", "orders", map[string]any{"id": "o1"}); err != nil {
		t.Fatal(err)
	}
	res := c.PublishEvents(t.Context(), "pubsub", "orders", []any{map[string]any{"id": "o2"}, "o3"})
	if res.Error != nil || len(res.FailedEvents) != 0 {
		t.Fatalf("PublishEvents: %v, failed %v", res.Error, res.FailedEvents)
	}
	for _, name := range []string{"http", "grpc"} {
		got := map[string]chan *common.TopicEvent{"grpc": grpcGot, "http": httpGot}[name]
		var datas []string
		for range 3 {
			select {
			case e := <-got:
				if e.Source != "publisher" || e.Topic != "orders" || e.PubsubName != "pubsub" || e.ID == "" {
					t.Errorf("%s: event %+v", name, e)
				}
				datas = append(datas, strings.TrimSpace(string(e.RawData)))
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: received %v, want 3 events", name, datas)
			}
		}
		joined := strings.Join(datas, " ")
		for _, want := range []string{`"o1"`, `"o2"`, `o3`} {
			if !strings.Contains(joined, want) {
				t.Errorf("%s: received %s, missing %s", name, joined, want)
			}
		}
	}
}

func TestPublishErrorsOverGRPC(t *testing.T) {
	bus := inmemory.New()
	if err := bus.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	c, err := dapr.NewClientWithAddressContext(t.Context(), pubsubSidecar(t, "publisher", bus, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	err = c.PublishEvent(t.Context(), "nope", "orders", []byte("x"))
	wantStatus(t, err, codes.InvalidArgument, "pubsub nope is not found")
	_ = bus.Close()
	err = c.PublishEvent(t.Context(), "pubsub", "orders", []byte("x"))
	wantStatus(t, err, codes.Internal, "error when publishing to topic orders in pubsub pubsub")
	res := c.PublishEvents(t.Context(), "pubsub", "orders", []any{"a", "b"})
	if res.Error == nil || len(res.FailedEvents) != 2 {
		t.Errorf("PublishEvents to a closed broker: %v, failed %d, want both failed", res.Error, len(res.FailedEvents))
	}
}

// TestGoSDKStreamingSubscribe: the Go SDK's Subscribe opens a streaming
// subscription; events published after it come over the stream, a RETRY
// answer brings the event again, and closing the stream ends the
// subscription (the next events wait for the next subscriber).
func TestGoSDKStreamingSubscribe(t *testing.T) {
	bus := inmemory.New()
	if err := bus.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	c, err := dapr.NewClientWithAddressContext(t.Context(), pubsubSidecar(t, "app", bus, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	// A pub/sub the app does not have is refused at once.
	bad, err := c.Subscribe(t.Context(), dapr.SubscriptionOptions{PubsubName: "nope", Topic: "t"})
	if err == nil {
		_, err = bad.Receive()
	}
	if err == nil || !strings.Contains(err.Error(), "pubsub nope is not found") {
		t.Errorf("streaming subscription to an unknown pub/sub: %v", err)
	}

	sub, err := c.Subscribe(t.Context(), dapr.SubscriptionOptions{PubsubName: "pubsub", Topic: "stream"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PublishEvent(t.Context(), "pubsub", "stream", []byte("first"), dapr.PublishEventWithContentType("text/plain")); err != nil {
		t.Fatal(err)
	}
	recv := func() *dapr.SubscriptionMessage {
		t.Helper()
		got := make(chan *dapr.SubscriptionMessage, 1)
		go func() {
			m, err := sub.Receive()
			if err != nil {
				t.Error(err)
			}
			got <- m
		}()
		select {
		case m := <-got:
			if m == nil {
				t.FailNow()
			}
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("nothing received over the stream within 5s")
			return nil
		}
	}
	m := recv()
	if string(m.RawData) != "first" || m.Topic != "stream" || m.PubsubName != "pubsub" || m.Source != "app" {
		t.Errorf("event %+v", m.TopicEvent)
	}
	if err := m.Retry(); err != nil {
		t.Fatal(err)
	}
	again := recv()
	if again.ID != m.ID {
		t.Errorf("after RETRY got %s, want %s again", again.ID, m.ID)
	}
	if err := again.Success(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}

	// With the stream closed, the next event waits for the next subscriber.
	if err := c.PublishEvent(t.Context(), "pubsub", "stream", []byte("second"), dapr.PublishEventWithContentType("text/plain")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	stop, err := c.SubscribeWithHandler(t.Context(), dapr.SubscriptionOptions{PubsubName: "pubsub", Topic: "stream"},
		func(e *common.TopicEvent) common.SubscriptionResponseStatus {
			got <- string(e.RawData)
			return common.SubscriptionResponseStatusSuccess
		})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stop() }()
	// A close right after an answer may cut the answer off; "first" may
	// then come once more (at least once), never after "second".
	for seen := []string{}; ; {
		select {
		case d := <-got:
			seen = append(seen, d)
			if d == "second" {
				if len(seen) > 2 || len(seen) == 2 && seen[0] != "first" {
					t.Errorf("SubscribeWithHandler received %q", seen)
				}
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("SubscribeWithHandler received %q within 5s, want second", seen)
		}
	}

}

// TestSidecarCloseEndsStreamingSubscriptions: an open streaming
// subscription does not hold up the sidecar's graceful stop.
func TestSidecarCloseEndsStreamingSubscriptions(t *testing.T) {
	bus := inmemory.New()
	if err := bus.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	ps := pubsub.New("app", pubsub.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := ps.Add(components.Metadata{Name: "pubsub", Type: inmemory.Type}, bus); err != nil {
		t.Fatal(err)
	}
	gl := listen(t)
	sc := startSidecar(t, sidecar.Config{AppID: "app", HTTPListener: listen(t), GRPCListener: gl, Pubsub: ps,
		Logger: slog.New(slog.DiscardHandler)})
	c, err := dapr.NewClientWithAddressContext(t.Context(), gl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sub, err := c.Subscribe(t.Context(), dapr.SubscriptionOptions{PubsubName: "pubsub", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// A stream that never sends its initial request holds nothing up either.
	if _, err := runtimev1pb.NewDaprClient(c.GrpcClientConn()).SubscribeTopicEventsAlpha1(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := sc.Close(ctx); err != nil {
		t.Fatalf("close with a streaming subscription open: %v", err)
	}
	if _, err := sub.Receive(); err == nil {
		t.Error("the stream is still open after the sidecar closed")
	}
}

// TestStreamingSubscriptionsInTheMetadata: an open streaming subscription
// is listed by the metadata API with type STREAMING and route "/", as
// daprd lists it, and is gone once the stream closes.
func TestStreamingSubscriptionsInTheMetadata(t *testing.T) {
	bus := inmemory.New()
	if err := bus.Init(context.Background(), components.Metadata{Name: "pubsub", Type: inmemory.Type}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	addr := pubsubSidecar(t, "app", bus, "", "")
	c, err := dapr.NewClientWithAddressContext(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	listed := func() []string {
		md, err := runtimev1pb.NewDaprClient(conn).GetMetadata(t.Context(), &runtimev1pb.GetMetadataRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range md.GetSubscriptions() {
			var paths []string
			for _, r := range s.GetRules().GetRules() {
				paths = append(paths, r.GetPath())
			}
			out = append(out, s.GetPubsubName()+"/"+s.GetTopic()+" "+s.GetType().String()+" "+strings.Join(paths, ",")+" "+s.GetDeadLetterTopic())
		}
		return out
	}
	poison := "poison"
	sub, err := c.Subscribe(t.Context(), dapr.SubscriptionOptions{PubsubName: "pubsub", Topic: "stream", DeadLetterTopic: &poison})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	waitFor(t, func() bool { got = listed(); return len(got) > 0 })
	if strings.Join(got, ";") != "pubsub/stream STREAMING / poison" {
		t.Errorf("subscriptions with a stream open = %q", got)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(listed()) == 0 })
}
