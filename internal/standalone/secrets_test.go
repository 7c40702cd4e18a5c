package standalone_test

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
	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/standalone"
)

// TestSecretStoreFeedsStateStore: a secretstores.local.env store (with a
// prefix unique to the test) supplies a state store's connectionString
// through secretKeyRef, and serves the secrets API over HTTP and gRPC.
func TestSecretStoreFeedsStateStore(t *testing.T) {
	w := newWorld(t)
	res := t.TempDir()
	prefix := fmt.Sprintf("COVETEST_%d_", time.Now().UnixNano())
	dbPath := filepath.Join(w.dir, "from-env-secret.db")
	t.Setenv(prefix+"STATE_DB", dbPath)
	t.Setenv(prefix+"API_KEY", "k-1")
	files := map[string]string{
		"env.yaml":   "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: envsecrets\nspec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n  - name: prefix\n    value: " + prefix + "\n",
		"state.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  - name: connectionString\n    secretKeyRef:\n      name: STATE_DB\n      key: STATE_DB\nauth:\n  secretStore: envsecrets\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(res, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := w.start(t, "alpha", 0, func(o *standalone.Options) { o.ResourcesPaths = []string{res} })

	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.HTTPAddr()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/v1.0/secrets/envsecrets/API_KEY"); code != 200 || body != `{"API_KEY":"k-1"}` {
		t.Errorf("GET secret: %d %s", code, body)
	}
	if code, body := get("/v1.0/secrets/envsecrets/bulk"); code != 200 || !strings.Contains(body, `"API_KEY":{"API_KEY":"k-1"}`) {
		t.Errorf("GET bulk: %d %s", code, body)
	}

	c, err := dapr.NewClientWithAddressContext(t.Context(), s.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SaveState(t.Context(), "statestore", "k", []byte(`"v"`), nil); err != nil {
		t.Fatalf("save state: %v", err)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Errorf("the state database is not where the secret points: %v", err)
	}
	got, err := c.GetSecret(t.Context(), "envsecrets", "API_KEY", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"API_KEY": "k-1"}, got); diff != "" {
		t.Errorf("GetSecret (-want +got):\n%s", diff)
	}
}
