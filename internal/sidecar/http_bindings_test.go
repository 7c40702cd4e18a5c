package sidecar_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/components"
	bhttp "github.com/cove-env/cove/internal/components/bindings/http"
	"github.com/cove-env/cove/internal/components/bindings/localstorage"
	"github.com/cove-env/cove/internal/sidecar"
)

// bindingsSidecar starts a sidecar whose bindings block holds "files", a
// real localstorage binding over a directory it returns.
func bindingsSidecar(t *testing.T) (base, grpcAddr, dir string) {
	t.Helper()
	dir = t.TempDir()
	md := components.Metadata{Name: "files", Type: localstorage.Type, Version: "v1", Properties: map[string]string{"rootPath": dir}}
	b := localstorage.New()
	if err := b.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	svc := bindings.New("frontend", bindings.Options{})
	if err := svc.Add(md, b); err != nil {
		t.Fatal(err)
	}
	base, grpcAddr = serveSidecar(t, sidecar.Config{AppID: "frontend", Logger: slog.New(slog.DiscardHandler), Bindings: svc})
	return base, grpcAddr, dir
}

func postBinding(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBindingsHTTP(t *testing.T) {
	base, _, dir := bindingsSidecar(t)
	code, body := postBinding(t, base+"/v1.0/bindings/files", `{"operation":"create","data":"hello","metadata":{"fileName":"a.txt"}}`)
	if code != 200 || body != `{"fileName":"a.txt"}` {
		t.Fatalf("create = %d %s", code, body)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(got) != "hello" {
		t.Fatalf("file holds %q", got)
	}
	code, body = postBinding(t, base+"/v1.0/bindings/files", `{"operation":"get","metadata":{"fileName":"a.txt"}}`)
	if code != 200 || body != "hello" {
		t.Fatalf("get = %d %s", code, body)
	}
	if code, body = postBinding(t, base+"/v1.0/bindings/files", `{"operation":"delete","metadata":{"fileName":"a.txt"}}`); code != 204 {
		t.Fatalf("delete = %d %s; want 204", code, body)
	}
	for _, c := range []struct{ name, body, status, message string }{
		{"unknown operation", `{"operation":"exec"}`, "500", "error invoking output binding files: binding files does not support operation exec. supported operations: create get list delete"},
		{"no operation", `{"data":1}`, "500", "error invoking output binding files: operation field is missing from request"},
		{"escape", `{"operation":"get","metadata":{"fileName":"../x"}}`, "500", "outside rootPath"},
		{"not JSON", `{`, "400", "failed deserializing HTTP body"},
	} {
		code, body := postBinding(t, base+"/v1.0/bindings/files", c.body)
		if strconv.Itoa(code) != c.status || !strings.Contains(body, c.message) {
			t.Errorf("%s = %d %s; want %s with %q", c.name, code, body, c.status, c.message)
		}
	}
	code, body = postBinding(t, base+"/v1.0/bindings/nope", `{"operation":"get"}`)
	if code != 500 || !strings.Contains(body, `"errorCode":"ERR_INVOKE_OUTPUT_BINDING"`) || !strings.Contains(body, "couldn't find output binding nope") {
		t.Fatalf("unknown binding = %d %s", code, body)
	}
}

func TestBindingsGRPC(t *testing.T) {
	_, addr, _ := bindingsSidecar(t)
	ctx := t.Context()
	c, err := dapr.NewClientWithAddressContext(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Over gRPC the data goes as it is, not JSON-encoded.
	out, err := c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "files", Operation: "create", Data: []byte("raw bytes"), Metadata: map[string]string{"fileName": "g.txt"}})
	if err != nil || string(out.Data) != `{"fileName":"g.txt"}` {
		t.Fatalf("InvokeBinding create = %v, %v", out, err)
	}
	out, err = c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "files", Operation: "get", Metadata: map[string]string{"fileName": "g.txt"}})
	if err != nil || string(out.Data) != "raw bytes" {
		t.Fatalf("InvokeBinding get = %v, %v", out, err)
	}
	_, err = runtimev1pb.NewDaprClient(c.GrpcClientConn()).InvokeBinding(ctx, &runtimev1pb.InvokeBindingRequest{Name: "nope", Operation: "get"})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "couldn't find output binding nope") {
		t.Fatalf("unknown binding = %v", err)
	}
}

// TestBindingsPassTraceContext: the call's traceparent reaches an HTTP
// binding's target, over both APIs.
func TestBindingsPassTraceContext(t *testing.T) {
	got := make(chan string, 2)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("traceparent") }))
	defer target.Close()
	md := components.Metadata{Name: "hook", Type: bhttp.Type, Version: "v1", Properties: map[string]string{"url": target.URL}}
	b := bhttp.New()
	if err := b.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	svc := bindings.New("frontend", bindings.Options{})
	if err := svc.Add(md, b); err != nil {
		t.Fatal(err)
	}
	base, addr := serveSidecar(t, sidecar.Config{AppID: "frontend", Logger: slog.New(slog.DiscardHandler), Bindings: svc})
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req, _ := http.NewRequest(http.MethodPost, base+"/v1.0/bindings/hook", strings.NewReader(`{"operation":"get"}`))
	req.Header.Set("traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := <-got; !strings.HasPrefix(v, "00-0af7651916cd43dd8448eb211c80319c-") {
		t.Errorf("HTTP API: the binding sent traceparent %q; want the call's trace", v)
	}
	c, err := dapr.NewClientWithAddressContext(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", tp)
	if _, err := c.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "hook", Operation: "get"}); err != nil {
		t.Fatal(err)
	}
	if v := <-got; !strings.HasPrefix(v, "00-0af7651916cd43dd8448eb211c80319c-") {
		t.Errorf("gRPC API: the binding sent traceparent %q; want the call's trace", v)
	}
}
