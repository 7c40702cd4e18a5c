package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
		writeFile(t, dir, a.name+".yaml", daprAppYAML(a.name, a.protocol, 1))
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

// runCountingSubscriber subscribes to pubsub/soak and appends each event's
// data, a line, to $SEEN_FILE before it answers, so what it acknowledged is
// on disk when it is killed.
func runCountingSubscriber() int {
	f, err := os.OpenFile(os.Getenv("SEEN_FILE"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `[{"pubsubname":"pubsub","topic":"soak","route":"/soak"}]`)
	})
	var mu sync.Mutex
	mux.HandleFunc("POST /soak", func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Data string }
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		_, err := f.WriteString(ev.Data + "\n")
		mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux))
	return 1
}

// TestPubsubAtLeastOnce publishes 10,000 events to the embedded JetStream
// default while the subscriber's replica is killed (kill -9) and restarted
// twice: every event is processed at least once; duplicates (events
// processed but not acknowledged before a kill) are counted and reported.
func TestPubsubAtLeastOnce(t *testing.T) {
	const n = 10_000
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seen := filepath.Join(dir, "seen.txt")
	writeFile(t, dir, "cove.yaml", fmt.Sprintf(`name: soak
apps:
  - file: sub.yaml
    command: [%q]
    env: {COVE_E2E_APP: count-sub, SEEN_FILE: %q}
  - file: pub.yaml
    command: [sleep, "600"]
components:
  - name: pubsub
    file: pubsub.yaml
`, exe, seen))
	for _, a := range []struct{ name, port string }{{"sub", "appPort: 8000, "}, {"pub", ""}} {
		writeFile(t, dir, a.name+".yaml", `name: `+a.name+`
properties:
  configuration:
    dapr: {enabled: true, appId: `+a.name+`, `+a.port+`appProtocol: http}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: 1, maxReplicas: 1}
`)
	}
	writeFile(t, dir, "pubsub.yaml", "componentType: pubsub.jetstream\nversion: v1\nmetadata:\n  - {name: ackWait, value: 2s}\n")
	e := up(t, filepath.Join(dir, "cove.yaml"))

	var subPID, pubPort int
	for _, a := range e.status().Apps {
		switch a.Name {
		case "sub":
			subPID = a.Replicas[0].PID
		case "pub":
			pubPort = a.Replicas[0].DaprGRPCPort
		}
	}
	c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", pubPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	subReady := func() (int, bool) {
		for _, a := range e.status().Apps {
			if a.Name == "sub" && a.Replicas[0].Ready && a.Replicas[0].PID > 0 {
				return a.Replicas[0].PID, true
			}
		}
		return 0, false
	}
	start := time.Now()
	for i := range n {
		if err := c.PublishEvent(t.Context(), "pubsub", "soak", []byte(strconv.Itoa(i)), dapr.PublishEventWithContentType("text/plain")); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if i == n/3 || i == 2*n/3 {
			if err := syscall.Kill(subPID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			old := subPID
			waitFor("the subscriber restarted", func() bool {
				pid, ok := subReady()
				if ok && pid != old {
					subPID = pid
					return true
				}
				return false
			})
		}
	}
	published := time.Since(start)
	var counts map[string]int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(seen)
		counts = map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				counts[l]++
			}
		}
		if len(counts) == n {
			break
		}
		if time.Now().After(deadline) {
			missing := 0
			for i := range n {
				if counts[strconv.Itoa(i)] == 0 {
					missing++
				}
			}
			t.Fatalf("%d of %d events never processed", missing, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dups := 0
	for _, k := range counts {
		dups += k - 1
	}
	t.Logf("%d events published in %s while the subscriber was killed twice; all processed in %s, %d duplicates",
		n, published.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), dups)
	e.stop()
}
