package control

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
)

// TestRunSecretKeyRef runs a Dapr app with a secretstores.local.file store
// and a state.sqlite store whose connectionString comes from that store
// through secretKeyRef: the database lands where the secret says, and the
// app's sidecar serves both the state and the secrets API.
func TestRunSecretKeyRef(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "from-secret.db")
	secretsFile := filepath.Join(dir, "secrets.json")
	write(t, dir, "secrets.json", fmt.Sprintf(`{"sqlite": {"connectionString": %q}, "api-key": "k-1", "hidden": "h"}`, dbPath))
	// The app may read api-key only; components still resolve their own
	// references (sqlite) whatever the app's scopes say, as in Dapr.
	write(t, dir, "config.yaml", `
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: shop-config}
spec:
  secrets:
    scopes:
      - {storeName: vault, defaultAccess: deny, allowedSecrets: [api-key]}
`)
	write(t, dir, "app.yaml", `
name: shop
properties:
  configuration:
    ingress: {targetPort: 8000}
    dapr: {enabled: true, appId: shop, appPort: 8000}
  template:
    containers:
      - {name: main, image: x}
`)
	write(t, dir, "vault.yaml", fmt.Sprintf(`
componentType: secretstores.local.file
version: v1
metadata:
  - {name: secretsFile, value: %q}
  - {name: multiValued, value: "true"}
`, secretsFile))
	write(t, dir, "statestore.yaml", `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      secretKeyRef: {name: sqlite, key: connectionString}
auth:
  secretStore: vault
`)
	// The state store is listed first: secret stores load before it anyway.
	write(t, dir, "cove.yaml", fmt.Sprintf(`
apps:
  - file: app.yaml
    command: [%q]
    env: {COVE_TEST_APP: "1"}
    configuration: {file: config.yaml}
components:
  - {name: statestore, file: statestore.yaml}
  - {name: vault, file: vault.yaml}
`, exe))
	st := runEnv(t, dir, nil)
	sidecar := fmt.Sprintf("http://127.0.0.1:%d", st.Apps[0].Replicas[0].DaprHTTPPort)
	call := func(method, path, body string) (int, string) {
		t.Helper()
		return httpCall(t, method, sidecar+path, body, nil)
	}

	if code, body := call(http.MethodPost, "/v1.0/state/statestore", `[{"key":"k","value":"v"}]`); code != http.StatusNoContent {
		t.Fatalf("save: %d %s", code, body)
	}
	if code, body := call(http.MethodGet, "/v1.0/state/statestore/k", ""); code != http.StatusOK || body != `"v"` {
		t.Errorf("get: %d %s, want 200 \"v\"", code, body)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Errorf("the database is not at the path the secret gives: %v", err)
	}
	if code, body := call(http.MethodGet, "/v1.0/secrets/vault/api-key", ""); code != http.StatusOK || body != `{"api-key":"k-1"}` {
		t.Errorf("secret: %d %s", code, body)
	}
	if code, body := call(http.MethodGet, "/v1.0/secrets/vault/hidden", ""); code != http.StatusForbidden || !strings.Contains(body, "ERR_PERMISSION_DENIED") {
		t.Errorf("secret outside the app's scope: %d %s, want 403 ERR_PERMISSION_DENIED", code, body)
	}
}

// TestRunSecretKeyRefMissingKey: a secretKeyRef to a key the secret does
// not have stops the start with the component file and the field named.
func TestRunSecretKeyRefMissingKey(t *testing.T) {
	dir := t.TempDir()
	secretsFile := filepath.Join(dir, "secrets.json")
	write(t, dir, "secrets.json", `{"sqlite": {"other": "x"}}`)
	write(t, dir, "vault.yaml", fmt.Sprintf(`
componentType: secretstores.local.file
version: v1
metadata:
  - {name: secretsFile, value: %q}
  - {name: multiValued, value: "true"}
`, secretsFile))
	write(t, dir, "statestore.yaml", `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      secretKeyRef: {name: sqlite, key: connectionString}
auth:
  secretStore: vault
`)
	write(t, dir, "app.yaml", `
name: shop
properties:
  configuration:
    dapr: {enabled: true, appId: shop}
  template:
    containers:
      - {name: main, image: x}
`)
	write(t, dir, "cove.yaml", `
apps:
  - {file: app.yaml, command: [/bin/true]}
components:
  - {name: vault, file: vault.yaml}
  - {name: statestore, file: statestore.yaml}
`)
	env, err := Load(filepath.Join(dir, "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = Run(ctx, Options{Spec: env, HTTPPort: testaddr.FreePort(t), HTTPSPort: testaddr.FreePort(t), StopGrace: time.Second})
	if err == nil {
		t.Fatal("Run started with a secretKeyRef to a missing key")
	}
	for _, want := range []string{"statestore.yaml", "spec.metadata[0].secretKeyRef (connectionString)", `has no key "connectionString"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
