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
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

// runSDKBindingApp is an app on the official Go SDK's service/http or
// service/grpc: AddBindingInvocationHandler for the cron binding tick and
// for its own RabbitMQ binding, a line printed per event.
func runSDKBindingApp(mode string) int {
	addr := "127.0.0.1:" + os.Getenv("PORT")
	var svc common.Service
	if mode == "sdk-grpc-bind" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		svc = daprgrpc.NewServiceWithListener(l)
	} else {
		svc = daprhttp.NewService(addr)
	}
	print := func(name string) common.BindingInvocationHandler {
		return func(_ context.Context, in *common.BindingEvent) ([]byte, error) {
			fmt.Printf("%s got %s: %q at %s\n", mode, name, in.Data, in.Metadata["readTimeUTC"])
			return nil, nil
		}
	}
	queue := os.Getenv("QUEUE_BINDING")
	err := svc.AddBindingInvocationHandler("tick", print("tick"))
	if err == nil {
		err = svc.AddBindingInvocationHandler(queue, print(queue))
	}
	if err == nil {
		err = svc.Start()
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestSDKInputBindings: under cove up, Go SDK apps on service/http and
// service/grpc, each with AddBindingInvocationHandler, get a cron binding's
// firings (@every 1s) and the messages of a RabbitMQ binding of their own,
// which the SDK's InvokeBinding creates through their sidecars.
func TestSDKInputBindings(t *testing.T) {
	stateconformance.NeedService(t, "RabbitMQ", "127.0.0.1:5672")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	u := strings.TrimSuffix(componenttest.Unique(), "_")
	t.Cleanup(func() {
		conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672")
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer ch.Close()
		for _, p := range []string{"http", "grpc"} {
			_, _ = ch.QueueDelete(u+"-"+p, false, false, false)
		}
	})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("name: sdkbindings\napps:\n")
	var comps strings.Builder
	for _, p := range []string{"http", "grpc"} {
		name := p + "-bind"
		fmt.Fprintf(&b, "  - file: %s.yaml\n    command: [%q]\n    env: {COVE_E2E_APP: sdk-%s-bind, QUEUE_BINDING: orders-%s}\n", name, exe, p, p)
		writeFile(t, dir, name+".yaml", daprAppYAML(name, p, 1))
		fmt.Fprintf(&comps, "  - {name: orders-%s, file: orders-%s.yaml}\n", p, p)
		writeFile(t, dir, "orders-"+p+".yaml", fmt.Sprintf(`componentType: bindings.rabbitmq
version: v1
metadata:
  - {name: host, value: "amqp://guest:guest@127.0.0.1:5672"}
  - {name: queueName, value: %s-%s}
scopes: [%s]
`, u, p, name))
	}
	b.WriteString("components:\n  - {name: tick, file: tick.yaml}\n" + comps.String())
	writeFile(t, dir, "tick.yaml", "componentType: bindings.cron\nversion: v1\nmetadata:\n  - {name: schedule, value: \"@every 1s\"}\n")
	writeFile(t, dir, "cove.yaml", b.String())
	e := up(t, filepath.Join(dir, "cove.yaml"))

	for _, mode := range []string{"sdk-http-bind", "sdk-grpc-bind"} {
		e.waitFor(mode+` got tick: "" at `, 15*time.Second)
	}
	for _, a := range e.status().Apps {
		p := strings.TrimSuffix(a.Name, "-bind")
		c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", a.Replicas[0].DaprGRPCPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.InvokeBinding(t.Context(), &dapr.InvokeBindingRequest{Name: "orders-" + p, Operation: "create", Data: []byte(`{"order":"` + p + `"}`)}); err != nil {
			t.Fatalf("InvokeBinding orders-%s: %v", p, err)
		}
		e.waitFor(fmt.Sprintf(`sdk-%s-bind got orders-%s: "{\"order\":\"%s\"}"`, p, p, p), 15*time.Second)
	}
	e.stop()
}
