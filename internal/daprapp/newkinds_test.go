package daprapp_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/blocks/lock"
	_ "github.com/cove-env/cove/internal/components/all"
	"github.com/cove-env/cove/internal/daprapp"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// TestNewKindsThroughTheLifecycle loads lock stores and output bindings
// from Dapr resource files, as cove sidecar does: a binding's rootPath
// from a secretKeyRef, components scoped to one app, a Resiliency retrying
// an output binding, and the metadata API listing what is in scope.
func TestNewKindsThroughTheLifecycle(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "files")
	vault := filepath.Join(dir, "secrets.json")
	if err := os.WriteFile(vault, []byte(`{"root": "`+root+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	yaml := `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: vault}
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - {name: secretsFile, value: "` + vault + `"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: files}
spec:
  type: bindings.localstorage
  version: v1
  metadata:
  - name: rootPath
    secretKeyRef: {name: root, key: root}
auth: {secretStore: vault}
scopes: [orders]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: hook}
spec:
  type: bindings.http
  version: v1
  metadata:
  - {name: url, value: "` + srv.URL + `"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: locks}
spec:
  type: lock.in-memory
  version: v1
scopes: [billing]
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: res}
spec:
  policies:
    retries:
      thrice: {policy: constant, duration: 1ms, maxRetries: 3}
  targets:
    components:
      hook: {outbound: {retry: thrice}}
`
	res, probs := spec.ParseResources("res.yaml", []byte(yaml), spec.Options{})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	set, err := resources.Load(t.Context(), res.Components, resources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	policies := resources.NewResiliency(res.Resiliency, nil)

	orders, err := daprapp.New(daprapp.App{AppID: "orders", Components: set, Resiliency: policies})
	if err != nil {
		t.Fatal(err)
	}
	cfg := orders.SidecarConfig(daprapp.Sidecar{})
	if cfg.Lock != nil {
		t.Error("orders has a lock block; the lock store is scoped to billing")
	}
	if cfg.Bindings == nil {
		t.Fatal("orders has no bindings block")
	}
	// rootPath came from the secret store.
	if _, err := cfg.Bindings.Invoke(t.Context(), "files", &bindings.Request{Operation: "create", Data: []byte("x"), Metadata: map[string]string{"fileName": "f"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "f")); err != nil {
		t.Errorf("the file is not under the rootPath the secret gave: %v", err)
	}
	// The Resiliency's retries carry the call over two 502s.
	if resp, err := cfg.Bindings.Invoke(t.Context(), "hook", &bindings.Request{Operation: "get"}); err != nil || resp.Metadata["statusCode"] != "200" || calls.Load() != 3 {
		t.Fatalf("hook = %v, %v after %d calls; want success on the third", resp, err, calls.Load())
	}
	var listed []string
	for _, b := range cfg.Bindings.Bindings() {
		listed = append(listed, b.Name+":"+strings.Join(b.Capabilities, ","))
	}
	if strings.Join(listed, " ") != "files:OUTPUT_BINDING hook:OUTPUT_BINDING" {
		t.Errorf("bindings listed = %v", listed)
	}

	billing, err := daprapp.New(daprapp.App{AppID: "billing", Components: set})
	if err != nil {
		t.Fatal(err)
	}
	bcfg := billing.SidecarConfig(daprapp.Sidecar{})
	if bcfg.Lock == nil {
		t.Fatal("billing has no lock block")
	}
	if ok, err := bcfg.Lock.TryLock(t.Context(), lock.TryLockRequest{Store: "locks", ResourceID: "r", LockOwner: "o", ExpiryInSeconds: 5}); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if _, err := bcfg.Bindings.Invoke(t.Context(), "files", &bindings.Request{Operation: "list"}); err == nil {
		t.Error("billing invoked files, scoped to orders")
	}
}
