package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// TestSDKBindings runs an HTTP app with two output bindings and invokes
// them through the official Go SDK and over HTTP: bindings.http with the
// URL http://web reaches the app by name, as from inside a replica (the
// app logs the path it was called on), and bindings.localstorage writes
// and reads files under its rootPath.
func TestSDKBindings(t *testing.T) {
	ctx := t.Context()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFile(t, dir, "cove.yaml", fmt.Sprintf("apps:\n  - file: app.yaml\n    command: [%q]\n    env: {COVE_E2E_APP: http}\ncomponents:\n  - {name: webhook, file: http.yaml}\n  - {name: files, file: files.yaml}\n", exe))
	writeFile(t, dir, "app.yaml", `name: web
properties:
  configuration:
    ingress: {external: false, targetPort: 8000}
    dapr: {enabled: true, appId: web, appPort: 8000}
  template:
    containers: [{name: main, image: x}]
`)
	writeFile(t, dir, "http.yaml", "componentType: bindings.http\nversion: v1\nmetadata:\n  - {name: url, value: \"http://web\"}\n")
	writeFile(t, dir, "files.yaml", fmt.Sprintf("componentType: bindings.localstorage\nversion: v1\nmetadata:\n  - {name: rootPath, value: %q}\n", files))
	e := up(t, filepath.Join(dir, "cove.yaml"))
	r := e.status().Apps[0].Replicas[0]
	c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	out, err := c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "webhook", Operation: "post", Data: []byte(`{"id":1}`), Metadata: map[string]string{"path": "/from-binding"}})
	if err != nil {
		t.Fatalf("InvokeBinding webhook: %v", err)
	}
	// The app answers its revision's name.
	if !strings.HasPrefix(string(out.Data), "web--") || out.Metadata["statusCode"] != "200" {
		t.Fatalf("webhook answered %q %v", out.Data, out.Metadata)
	}
	e.waitFor("request /from-binding", 10*time.Second)

	if _, err := c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "files", Operation: "create", Data: []byte("report"), Metadata: map[string]string{"fileName": "out/report.txt"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(files, "out/report.txt")); string(got) != "report" {
		t.Fatalf("file holds %q", got)
	}
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1.0/bindings/files", r.DaprHTTPPort), "application/json",
		strings.NewReader(`{"operation":"get","metadata":{"fileName":"out/report.txt"}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "report" {
		t.Fatalf("HTTP get = %d %s", resp.StatusCode, body)
	}
	_, err = c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "files", Operation: "get", Metadata: map[string]string{"fileName": "../cove.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "outside rootPath") {
		t.Fatalf("a path out of rootPath = %v; want it refused", err)
	}
	_, err = c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "files", Operation: "exec"})
	if err == nil || !strings.Contains(err.Error(), "supported operations: create get list delete") {
		t.Fatalf("an operation the binding lacks = %v", err)
	}
}
