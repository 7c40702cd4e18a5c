package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/test/internal/testenv"
)

// jsEnv writes an environment of two apps built on the JavaScript SDK's
// DaprServer (app.mjs), one called over HTTP (js-http) and one over gRPC
// (js-grpc), with a component of each kind check.mjs uses; the state store
// keeps actor state too. CONFIG_FILE names the configuration store's file,
// which check.mjs (run with an app's environment) rewrites; DAPR_API_TOKEN
// makes each sidecar require its token, which the SDK reads from there.
func jsEnv(t *testing.T, node string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("name: jssdk\napps:\n")
	for _, protocol := range []string{"http", "grpc"} {
		name := "js-" + protocol
		fmt.Fprintf(&b, "  - file: %s.yaml\n    command: [%q, %q, %s]\n    env: {CONFIG_FILE: %q, DAPR_API_TOKEN: %q}\n",
			name, node, filepath.Join(testenv.JSSDKDir, "app.mjs"), protocol, filepath.Join(dir, "config.yaml"), "token-"+protocol)
		writeFile(t, dir, name+".yaml", daprAppYAML(name, protocol, 1))
	}
	b.WriteString("components:\n")
	for name, spec := range map[string]string{
		"statestore":  "componentType: state.sqlite\nversion: v1\nmetadata:\n  - {name: connectionString, value: state.db}\n  - {name: actorStateStore, value: \"true\"}\n",
		"pubsub":      "componentType: pubsub.in-memory\nversion: v1\nmetadata: []\n",
		"secretstore": "componentType: secretstores.local.file\nversion: v1\nmetadata:\n  - {name: secretsFile, value: secrets.json}\n",
		"configstore": "componentType: configuration.local.file\nversion: v1\nmetadata:\n  - {name: filePath, value: config.yaml}\n  - {name: pollInterval, value: 100ms}\n",
		"files":       "componentType: bindings.localstorage\nversion: v1\nmetadata:\n  - {name: rootPath, value: files}\n",
		"lockstore":   "componentType: lock.in-memory\nversion: v1\nmetadata: []\n",
	} {
		fmt.Fprintf(&b, "  - name: %s\n    file: components/%s.yaml\n", name, name)
		writeFile(t, dir, "components/"+name+".yaml", spec)
	}
	writeFile(t, dir, "cove.yaml", b.String())
	writeFile(t, dir, "secrets.json", `{"api-key": "k-1", "db": {"user": "u"}}`)
	writeFile(t, dir, "config.yaml", "feature: {value: \"on\", version: \"3\"}\nlimit: \"100\"\n")
	return dir
}

// TestJSSDK runs the official Dapr JavaScript SDK (test/jssdk, the version
// its package-lock.json pins) against cove up: two apps on its DaprServer,
// one called over HTTP and one over gRPC, and check.mjs driving js-http's
// sidecar with DaprClient over each protocol: health, metadata, state with
// etags and a query, service invocation, pub/sub (single and bulk),
// secrets, configuration (get and subscribe), an output binding, locks;
// and actors, a CounterActor the HTTP app hosts. check.mjs asserts; its
// output is shown when it fails.
func TestJSSDK(t *testing.T) {
	node := testenv.NeedJSSDK(t)
	dir := jsEnv(t, node)
	// Relative paths of the secret and configuration files are taken from
	// the directory cove runs in.
	file := filepath.Join(dir, "cove.yaml")
	e := start(t, dir, file, "up", "-f", file)
	e.waitFor("is ready", 3*time.Minute)
	for _, protocol := range []string{"http", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			out, err := e.cove("exec", "js-http", "--", node, filepath.Join(testenv.JSSDKDir, "check.mjs"), protocol, "js-http", "js-grpc")
			if err != nil {
				t.Fatalf("check.mjs over %s: %v\n%s", protocol, err, out)
			}
			t.Logf("check.mjs over %s:\n%s", protocol, out)
		})
	}
}
