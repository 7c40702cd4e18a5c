package standalone

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/componenttest"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
	"github.com/cove-env/cove/test/internal/testenv"
)

// TestJSSDKSidecars runs the official Dapr JavaScript SDK (test/jssdk)
// beside `cove sidecar`s: app.mjs on DaprServer, one called over HTTP and
// one over gRPC, each with its own sidecar, and check.mjs driving the HTTP
// app's sidecar with DaprClient over each protocol: state, a query,
// invocation of both apps through name resolution and mutual TLS, and
// pub/sub through Redis to both. (test/e2e's TestJSSDK runs every check
// under cove up.)
func TestJSSDKSidecars(t *testing.T) {
	node := testenv.NeedJSSDK(t)
	conformance.NeedService(t, "Redis", "127.0.0.1:6379")
	s := newShared(t)
	topic := componenttest.Unique() + "orders"
	t.Cleanup(func() { // the topic's stream
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer rdb.Close()
		_ = rdb.Del(context.Background(), topic).Err()
	})
	pubsub := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pubsub}\nspec:\n  type: pubsub.redis\n  version: v1\n" +
		"  metadata:\n  - {name: redisHost, value: \"127.0.0.1:6379\"}\n"
	if err := os.WriteFile(filepath.Join(s.resources, "pubsub.yaml"), []byte(pubsub), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string][]string{}
	for _, protocol := range []string{"http", "grpc"} {
		appID, appPort := "js-"+protocol, testaddr.FreePort(t)
		p := s.sidecar(t, appID, appPort, "--app-protocol", protocol)
		env[protocol] = append(os.Environ(), "APP_ID="+appID, "TOPIC="+topic, "PORT="+strconv.Itoa(appPort),
			"DAPR_HTTP_PORT="+strconv.Itoa(p.httpPort), "DAPR_GRPC_PORT="+strconv.Itoa(p.grpcPort))
		startJSApp(t, node, protocol, env[protocol])
		// The sidecar asks the app for its subscriptions once it is up; an
		// event published before would not reach it.
		if !testenv.Poll(20*time.Second, 100*time.Millisecond, func() bool { return subscribed(p, topic) }) {
			t.Fatalf("%s's sidecar did not subscribe to %s", appID, topic)
		}
	}
	for _, protocol := range []string{"http", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), node, filepath.Join(testenv.JSSDKDir, "check.mjs"), protocol, "js-http", "js-grpc",
				"health", "state", "query", "invoke", "pubsub")
			cmd.Env = env["http"]
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("check.mjs over %s: %v\n%s", protocol, err, out)
			}
			t.Logf("check.mjs over %s:\n%s", protocol, out)
		})
	}
}

// startJSApp runs app.mjs, serving protocol, with env; its output is shown
// when the test fails.
func startJSApp(t *testing.T, node, protocol string, env []string) {
	t.Helper()
	out := &testlog.Buffer{}
	cmd := exec.Command(node, filepath.Join(testenv.JSSDKDir, "app.mjs"), protocol)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("app.mjs %s output:\n%s", protocol, out.String())
		}
	})
}

// subscribed reports whether p's metadata lists a subscription to topic.
func subscribed(p *proc, topic string) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/metadata", p.httpPort))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return strings.Contains(b.String(), `"topic":"`+topic+`"`)
}
