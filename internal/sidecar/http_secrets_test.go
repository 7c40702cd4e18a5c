package sidecar_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/blocks/secrets"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores/local/file"
	"github.com/cove-env/cove/internal/sidecar"
)

// secretsSidecar starts a sidecar whose secrets block holds "vault", a
// real multi-valued local.file store, with "internal" scoped out. With
// block false it has no secrets block at all.
func secretsSidecar(t *testing.T, block bool) (httpURL, grpcAddr string) {
	t.Helper()
	cfg := sidecar.Config{AppID: "frontend", Logger: slog.New(slog.DiscardHandler)}
	if block {
		p := filepath.Join(t.TempDir(), "secrets.json")
		body := `{"api-key": "k-1", "db": {"user": "u", "password": "p"}, "internal": "x"}`
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		md := components.Metadata{Name: "vault", Type: file.Type, Version: "v1",
			Properties: map[string]string{"secretsFile": p, "multiValued": "true"}}
		st := &file.Store{}
		if err := st.Init(t.Context(), md); err != nil {
			t.Fatal(err)
		}
		svc := secrets.New("frontend", secrets.Options{Scopes: map[string]secrets.Scope{"vault": {DeniedSecrets: []string{"internal"}}}})
		if err := svc.Add(md, st); err != nil {
			t.Fatal(err)
		}
		cfg.Secrets = svc
	}
	return serveSidecar(t, cfg)
}

// serveSidecar starts a sidecar of cfg on loopback listeners of its own,
// HTTP and gRPC, closed when t ends.
func serveSidecar(t *testing.T, cfg sidecar.Config) (httpURL, grpcAddr string) {
	t.Helper()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPListener, cfg.GRPCListener = hl, gl
	sc, err := sidecar.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sc.Close(ctx)
	})
	return "http://" + hl.Addr().String(), gl.Addr().String()
}

func TestSecretsHTTP(t *testing.T) {
	url, _ := secretsSidecar(t, true)
	bare, _ := secretsSidecar(t, false)
	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
	}{
		{"name/value secret", url + "/v1.0/secrets/vault/api-key", 200, `{"api-key":"k-1"}`},
		{"multi-valued secret with metadata", url + "/v1.0/secrets/vault/db?metadata.version=2", 200, `{"password":"p","user":"u"}`},
		{"bulk leaves scoped-out secrets out", url + "/v1.0/secrets/vault/bulk", 200,
			`{"api-key":{"api-key":"k-1"},"db":{"password":"p","user":"u"}}`},
		{"scoped-out secret", url + "/v1.0/secrets/vault/internal", 403, `ERR_PERMISSION_DENIED`},
		{"missing secret", url + "/v1.0/secrets/vault/nope", 500, `ERR_SECRET_GET`},
		{"unknown store", url + "/v1.0/secrets/other/api-key", 401, `ERR_SECRET_STORE_NOT_FOUND`},
		{"no secret stores", bare + "/v1.0/secrets/vault/api-key", 500, `ERR_SECRET_STORES_NOT_CONFIGURED`},
		{"no secret stores, bulk", bare + "/v1.0/secrets/vault/bulk", 500, `ERR_SECRET_STORES_NOT_CONFIGURED`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 200 {
				if diff := cmp.Diff(tt.wantBody, string(body)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				return
			}
			var e struct{ ErrorCode string }
			if err := json.Unmarshal(body, &e); err != nil || e.ErrorCode != tt.wantBody {
				t.Errorf("errorCode %q (%v), want %q; body %s", e.ErrorCode, err, tt.wantBody, body)
			}
		})
	}
}

func TestSecretsGRPC(t *testing.T) {
	_, addr := secretsSidecar(t, true)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := runtimev1pb.NewDaprClient(conn)

	got, err := api.GetSecret(t.Context(), &runtimev1pb.GetSecretRequest{StoreName: "vault", Key: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"user": "u", "password": "p"}, got.GetData()); diff != "" {
		t.Errorf("GetSecret (-want +got):\n%s", diff)
	}
	bulk, err := api.GetBulkSecret(t.Context(), &runtimev1pb.GetBulkSecretRequest{StoreName: "vault"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api-key", "db"}, sortedKeys(bulk.GetData())); diff != "" {
		t.Errorf("GetBulkSecret names (-want +got):\n%s", diff)
	}

	errs := []struct {
		name  string
		store string
		key   string
		want  codes.Code
	}{
		{"scoped out", "vault", "internal", codes.PermissionDenied},
		{"missing", "vault", "nope", codes.Internal},
		{"unknown store", "other", "x", codes.InvalidArgument},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.GetSecret(t.Context(), &runtimev1pb.GetSecretRequest{StoreName: tt.store, Key: tt.key})
			if status.Code(err) != tt.want {
				t.Errorf("GetSecret(%s/%s) = %v; want code %v", tt.store, tt.key, err, tt.want)
			}
		})
	}
}

func TestSecretsGoSDK(t *testing.T) {
	_, addr := secretsSidecar(t, true)
	c, err := dapr.NewClientWithAddressContext(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.GetSecret(t.Context(), "vault", "api-key", map[string]string{"version": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"api-key": "k-1"}, got); diff != "" {
		t.Errorf("GetSecret (-want +got):\n%s", diff)
	}
	bulk, err := c.GetBulkSecret(t.Context(), "vault", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{"api-key": {"api-key": "k-1"}, "db": {"user": "u", "password": "p"}}
	if diff := cmp.Diff(want, bulk); diff != "" {
		t.Errorf("GetBulkSecret (-want +got):\n%s", diff)
	}
	if _, err := c.GetSecret(t.Context(), "vault", "internal", nil); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetSecret of a scoped-out secret = %v; want PermissionDenied", err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
