package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as the apps of small environments, which start
// in milliseconds where the example's apps are built first. COVE_E2E_APP
// says what it does:
//
//	http   serves its revision's name on $PORT, writing a line per request
//	crash  writes a few lines, then exits with status 3
//	sdk-http-sub, sdk-grpc-sub  Go SDK subscribers (see pubsub_test.go)
//	count-sub  writes the data of each event of topic soak to $SEEN_FILE
//	sdk-actor  a Go SDK actor (see actors_test.go)
//	cart-actor  docs/actors.md's Cart actor on net/http
func runApp(mode string) int {
	switch mode {
	case "sdk-http-sub", "sdk-grpc-sub":
		return runSDKSubscriber(mode)
	case "sdk-http-bind", "sdk-grpc-bind":
		return runSDKBindingApp(mode)
	case "count-sub":
		return runCountingSubscriber()
	case "sdk-actor":
		return runSDKActor()
	case "sdk-grpc-actor":
		return runSDKGRPCActor()
	case "cart-actor":
		return runCartActor()
	case "jobs-http", "jobs-grpc":
		return runJobsApp(mode)
	case "http":
		rev := os.Getenv("CONTAINER_APP_REVISION")
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("request", r.URL.Path)
			fmt.Fprintln(w, rev)
		})
		err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
		fmt.Fprintln(os.Stderr, err)
		return 1
	case "netns":
		return runNamespacedApp()
	case "crash":
		fmt.Println("starting")
		fmt.Fprintln(os.Stderr, "fatal: cannot open the database")
		return 3
	}
	fmt.Fprintf(os.Stderr, "COVE_E2E_APP=%s: unknown mode\n", mode)
	return 2
}

// smallApp is a cove.yaml apps entry and its ACA YAML for smallEnv.
type smallApp struct {
	name string
	// mode is the test binary's COVE_E2E_APP; command, when set, runs
	// instead of the test binary.
	mode    string
	command string
}

// smallEnv writes an environment named name of apps served by this test
// binary (see runApp) into a new directory, with an in-memory state store
// component, and returns the environment file.
func smallEnv(t *testing.T, name string, apps ...smallApp) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\napps:\n", name)
	for _, a := range apps {
		command := fmt.Sprintf("[%q]", exe)
		if a.command != "" {
			command = fmt.Sprintf("[%q]", a.command)
		}
		fmt.Fprintf(&b, "  - file: %s.yaml\n    command: %s\n    env: {COVE_E2E_APP: %q}\n", a.name, command, a.mode)
		writeFile(t, dir, a.name+".yaml", `name: `+a.name+`
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: 1, maxReplicas: 1}
`)
	}
	b.WriteString("components:\n  - name: statestore\n    file: components/statestore.yaml\n")
	writeFile(t, dir, "components/statestore.yaml", "componentType: state.in-memory\nversion: v1\n")
	writeFile(t, dir, "cove.yaml", b.String())
	return filepath.Join(dir, "cove.yaml")
}

// daprAppYAML is the container app YAML of an internal app with Dapr on,
// its app id its name, called over protocol (http or grpc) on port 8000,
// with replicas replicas.
func daprAppYAML(name, protocol string, replicas int) string {
	return fmt.Sprintf(`name: %s
properties:
  configuration:
    ingress: {external: false, targetPort: 8000, transport: %s}
    dapr: {enabled: true, appId: %s, appPort: 8000, appProtocol: %s}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: %d, maxReplicas: %d}
`, name, map[string]string{"http": "auto", "grpc": "http2"}[protocol], name, protocol, replicas, replicas)
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
