package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprgrpc "github.com/dapr/go-sdk/service/grpc"
	daprhttp "github.com/dapr/go-sdk/service/http"
)

// runSDKSubscriber is an app built on the official Go SDK's service/http or
// service/grpc: it subscribes to pubsub/orders with AddTopicEventHandler and
// prints a line per event it receives.
func runSDKSubscriber(mode string) int {
	addr := "127.0.0.1:" + os.Getenv("PORT")
	var svc common.Service
	if mode == "sdk-grpc-sub" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		svc = daprgrpc.NewServiceWithListener(l)
	} else {
		svc = daprhttp.NewService(addr)
	}
	err := svc.AddTopicEventHandler(&common.Subscription{PubsubName: "pubsub", Topic: "orders", Route: "/orders"},
		func(_ context.Context, e *common.TopicEvent) (bool, error) {
			fmt.Printf("%s received %s from %s: %s\n", mode, e.Topic, e.Source, strings.TrimSpace(string(e.RawData)))
			return false, nil
		})
	if err == nil {
		err = svc.Start()
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestPubsubGoSDK: under cove up, the official Go SDK publishes one event
// (PublishEvent) and a bulk of them (PublishEvents) through a sidecar's gRPC
// API; Go SDK subscribers on service/http and service/grpc, each with its
// own sidecar, receive every event; their sidecars' metadata lists the
// subscription. The streaming Subscribe receives through a sidecar too.
func TestPubsubGoSDK(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("name: sdkpubsub\napps:\n")
	for _, a := range []struct{ name, mode, protocol string }{
		{"http-sub", "sdk-http-sub", "http"}, {"grpc-sub", "sdk-grpc-sub", "grpc"},
	} {
		fmt.Fprintf(&b, "  - file: %s.yaml\n    command: [%q]\n    env: {COVE_E2E_APP: %s}\n", a.name, exe, a.mode)
		writeFile(t, dir, a.name+".yaml", `name: `+a.name+`
properties:
  configuration:
    ingress: {external: false, targetPort: 8000, transport: `+map[string]string{"http": "auto", "grpc": "http2"}[a.protocol]+`}
    dapr: {enabled: true, appId: `+a.name+`, appPort: 8000, appProtocol: `+a.protocol+`}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: 1, maxReplicas: 1}
`)
	}
	b.WriteString("components:\n  - name: pubsub\n    file: pubsub.yaml\n")
	writeFile(t, dir, "pubsub.yaml", "componentType: pubsub.in-memory\nversion: v1\nmetadata: []\n")
	writeFile(t, dir, "cove.yaml", b.String())
	e := up(t, filepath.Join(dir, "cove.yaml"))

	grpcPorts := map[string]int{}
	for _, a := range e.status().Apps {
		grpcPorts[a.Name] = a.Replicas[0].DaprGRPCPort
	}
	client := func(app string) dapr.Client {
		c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", grpcPorts[app]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	// Each sidecar subscribes once its app is up: wait for both.
	for _, app := range []string{"http-sub", "grpc-sub"} {
		c := client(app)
		deadline := time.Now().Add(10 * time.Second)
		for {
			md, err := c.GetMetadata(t.Context())
			if err == nil && len(md.Subscriptions) == 1 && md.Subscriptions[0].Topic == "orders" && md.Subscriptions[0].PubsubName == "pubsub" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's sidecar metadata: %+v, %v; want the subscription to pubsub/orders", app, md, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	pub := client("http-sub")
	if err := pub.PublishEvent(t.Context(), "pubsub", "orders", map[string]string{"id": "o1"}); err != nil {
		t.Fatal(err)
	}
	res := pub.PublishEvents(t.Context(), "pubsub", "orders", []any{map[string]string{"id": "o2"}, map[string]string{"id": "o3"}})
	if res.Error != nil || len(res.FailedEvents) != 0 {
		t.Fatalf("PublishEvents: %v, failed %v", res.Error, res.FailedEvents)
	}
	for _, mode := range []string{"sdk-http-sub", "sdk-grpc-sub"} {
		for _, id := range []string{"o1", "o2", "o3"} {
			e.waitFor(fmt.Sprintf(`%s received orders from http-sub: {"id":"%s"}`, mode, id), 10*time.Second)
		}
	}
	// The streaming Subscribe, through the same sidecar.
	stream, err := pub.Subscribe(t.Context(), dapr.SubscriptionOptions{PubsubName: "pubsub", Topic: "streamed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishEvent(t.Context(), "pubsub", "streamed", map[string]string{"id": "s1"}); err != nil {
		t.Fatal(err)
	}
	received := make(chan *dapr.SubscriptionMessage, 1)
	go func() {
		m, err := stream.Receive()
		if err != nil {
			t.Error(err)
		}
		received <- m
	}()
	select {
	case m := <-received:
		if m == nil || strings.TrimSpace(string(m.RawData)) != `{"id":"s1"}` {
			t.Fatalf("streamed event %+v", m)
		}
		if err := m.Success(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the streaming subscription received nothing within 10s")
	}
	_ = stream.Close()

	if err := pub.PublishEvent(t.Context(), "nope", "orders", []byte("x")); err == nil || !strings.Contains(err.Error(), "ERR_PUBSUB_NOT_FOUND") && !strings.Contains(err.Error(), "pubsub nope is not found") {
		t.Errorf("publish to an unknown pub/sub: %v", err)
	}
	e.stop()
}
