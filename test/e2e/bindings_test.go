package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
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

	md, err := c.GetMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, rc := range md.RegisteredComponents {
		listed = append(listed, rc.Name+"="+rc.Type+":"+strings.Join(rc.Capabilities, ","))
	}
	for _, want := range []string{"webhook=bindings.http:OUTPUT_BINDING", "files=bindings.localstorage:OUTPUT_BINDING"} {
		if !slices.Contains(listed, want) {
			t.Errorf("metadata lists %v; want %s", listed, want)
		}
	}

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

// TestSDKDataBindings invokes bindings.redis, bindings.postgresql and
// bindings.mysql through the official Go SDK against the real servers,
// each on keys or a table of the test's own.
func TestSDKDataBindings(t *testing.T) {
	ctx := t.Context()
	for _, s := range []struct{ name, addr string }{{"Redis", "127.0.0.1:6379"}, {"PostgreSQL", "127.0.0.1:5432"}, {"MariaDB", "127.0.0.1:3306"}} {
		stateconformance.NeedService(t, s.name, s.addr)
	}
	u := componenttest.Unique()
	table := strings.TrimSuffix(u, "_")
	dir := t.TempDir()
	writeFile(t, dir, "cove.yaml", "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n  - {name: cache, file: redis.yaml}\n  - {name: pg, file: pg.yaml}\n  - {name: maria, file: mysql.yaml}\n")
	writeFile(t, dir, "app.yaml", "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n")
	writeFile(t, dir, "redis.yaml", "componentType: bindings.redis\nversion: v1\nmetadata:\n  - {name: redisHost, value: \"127.0.0.1:6379\"}\n")
	writeFile(t, dir, "pg.yaml", "componentType: bindings.postgresql\nversion: v1\nmetadata:\n  - {name: connectionString, value: \"host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable\"}\n")
	writeFile(t, dir, "mysql.yaml", "componentType: bindings.mysql\nversion: v1\nmetadata:\n  - {name: url, value: \"root:@tcp(127.0.0.1:3306)/test\"}\n")
	e := up(t, filepath.Join(dir, "cove.yaml"))
	r := e.status().Apps[0].Replicas[0]
	c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the cleanups below, which use it
	invoke := func(name, op, data string, md map[string]string) *dapr.BindingEvent {
		t.Helper()
		out, err := c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: name, Operation: op, Data: []byte(data), Metadata: md})
		if err != nil {
			t.Fatalf("InvokeBinding %s %s: %v", name, op, err)
		}
		return out
	}

	key := u + "counter"
	t.Cleanup(func() {
		_, _ = c.InvokeBinding(context.Background(), &dapr.InvokeBindingRequest{Name: "cache", Operation: "delete", Metadata: map[string]string{"key": key}})
	})
	invoke("cache", "create", "41", map[string]string{"key": key, "ttlInSeconds": "60"})
	invoke("cache", "increment", "", map[string]string{"key": key})
	if out := invoke("cache", "get", "", map[string]string{"key": key}); string(out.Data) != "42" {
		t.Fatalf("redis get = %q; want 42", out.Data)
	}

	for _, db := range []struct{ name, create, insert, query, want string }{
		{"pg", "CREATE TABLE " + table + " (id int, name text)", "INSERT INTO " + table + " VALUES ($1, $2)", "SELECT id, name FROM " + table, `[[7,"ann"]]`},
		{"maria", "CREATE TABLE " + table + " (id INT NOT NULL, name VARCHAR(20))", "INSERT INTO " + table + " VALUES (?, ?)", "SELECT id, name FROM " + table, `[{"id":7,"name":"ann"}]`},
	} {
		invoke(db.name, "exec", "", map[string]string{"sql": db.create})
		t.Cleanup(func() {
			_, _ = c.InvokeBinding(context.Background(), &dapr.InvokeBindingRequest{Name: db.name, Operation: "exec", Metadata: map[string]string{"sql": "DROP TABLE " + table}})
		})
		if out := invoke(db.name, "exec", "", map[string]string{"sql": db.insert, "params": `[7, "ann"]`}); out.Metadata["rows-affected"] != "1" {
			t.Fatalf("%s exec metadata %v", db.name, out.Metadata)
		}
		if out := invoke(db.name, "query", "", map[string]string{"sql": db.query}); string(out.Data) != db.want {
			t.Fatalf("%s query = %s; want %s", db.name, out.Data, db.want)
		}
	}
}
