package grpcapi_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprgrpc "github.com/dapr/go-sdk/service/grpc"
	daprhttp "github.com/dapr/go-sdk/service/http"
	"google.golang.org/grpc/codes"

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
