package secrets_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/blocks/secrets"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/components/secretstores/local/file"
	"github.com/cove-env/cove/internal/daprerr"
)

// fileStore is a real local.file store over a multi-valued JSON file.
func fileStore(t *testing.T) *file.Store {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets.json")
	body := `{"api-key": "k-1", "db": {"user": "u", "password": "p"}, "internal": "x"}`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	st := &file.Store{}
	md := components.Metadata{Name: "vault", Type: file.Type, Properties: map[string]string{"secretsFile": p, "multiValued": "true"}}
	if err := st.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	return st
}

// failing is a store whose every call fails.
type failing struct{}

func (failing) Init(context.Context, components.Metadata) error { return nil }
func (failing) GetSecret(context.Context, secretstores.GetRequest) (map[string]string, error) {
	return nil, errors.New("backend down")
}
func (failing) BulkGetSecret(context.Context, secretstores.BulkGetRequest) (map[string]map[string]string, error) {
	return nil, errors.New("backend down")
}
func (failing) Close() error { return nil }

func service(t *testing.T, scopes map[string]secrets.Scope) *secrets.Service {
	t.Helper()
	svc := secrets.New("app", secrets.Options{Scopes: scopes})
	if err := svc.Add(components.Metadata{Name: "vault", Type: file.Type, Version: "v1"}, fileStore(t)); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(components.Metadata{Name: "broken", Type: "secretstores.test", Version: "v1"}, failing{}); err != nil {
		t.Fatal(err)
	}
	return svc
}

func code(err error) string {
	var e *daprerr.Error
	if errors.As(err, &e) {
		return e.Kind.Code
	}
	if err != nil {
		return "not a daprerr: " + err.Error()
	}
	return ""
}

func TestGet(t *testing.T) {
	tests := []struct {
		name       string
		scopes     map[string]secrets.Scope
		store, key string
		want       map[string]string
		wantCode   string
		wantHTTP   int
		emptyBlock bool
	}{
		{name: "name/value secret", store: "vault", key: "api-key", want: map[string]string{"api-key": "k-1"}},
		{name: "multi-valued secret", store: "vault", key: "db", want: map[string]string{"user": "u", "password": "p"}},
		{name: "missing secret", store: "vault", key: "nope", wantCode: "ERR_SECRET_GET", wantHTTP: http.StatusInternalServerError},
		{name: "failing store", store: "broken", key: "x", wantCode: "ERR_SECRET_GET", wantHTTP: http.StatusInternalServerError},
		{name: "unknown store", store: "other", key: "x", wantCode: "ERR_SECRET_STORE_NOT_FOUND", wantHTTP: http.StatusUnauthorized},
		{name: "no stores", emptyBlock: true, store: "vault", key: "x", wantCode: "ERR_SECRET_STORES_NOT_CONFIGURED", wantHTTP: http.StatusInternalServerError},
		{
			name: "denied by the deny list", store: "vault", key: "internal",
			scopes:   map[string]secrets.Scope{"vault": {DeniedSecrets: []string{"internal"}}},
			wantCode: "ERR_PERMISSION_DENIED", wantHTTP: http.StatusForbidden,
		},
		{
			name: "allowed by the allow list over default deny", store: "vault", key: "db",
			scopes: map[string]secrets.Scope{"vault": {DefaultAccess: "deny", AllowedSecrets: []string{"db"}}},
			want:   map[string]string{"user": "u", "password": "p"},
		},
		{
			name: "default deny", store: "vault", key: "api-key",
			scopes:   map[string]secrets.Scope{"vault": {DefaultAccess: "deny"}},
			wantCode: "ERR_PERMISSION_DENIED", wantHTTP: http.StatusForbidden,
		},
		{
			name: "another store's scope does not apply", store: "vault", key: "internal",
			scopes: map[string]secrets.Scope{"broken": {DefaultAccess: "deny"}},
			want:   map[string]string{"internal": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := secrets.New("app", secrets.Options{})
			if !tt.emptyBlock {
				svc = service(t, tt.scopes)
			}
			got, err := svc.Get(t.Context(), tt.store, tt.key, map[string]string{"version": "2"})
			if diff := cmp.Diff(tt.wantCode, code(err)); diff != "" {
				t.Fatalf("error code (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil {
				if st := daprerr.From(err).Status(); st != tt.wantHTTP {
					t.Errorf("HTTP status %d; want %d", st, tt.wantHTTP)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Get (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBulkGetFiltersByScope(t *testing.T) {
	svc := service(t, map[string]secrets.Scope{"vault": {DeniedSecrets: []string{"internal"}}})
	got, err := svc.BulkGet(t.Context(), "vault", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"api-key": {"api-key": "k-1"},
		"db":      {"user": "u", "password": "p"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BulkGet (-want +got):\n%s", diff)
	}
	if _, err := svc.BulkGet(t.Context(), "broken", nil); code(err) != "ERR_SECRET_GET" {
		t.Errorf("BulkGet of a failing store = %v; want ERR_SECRET_GET", err)
	}
}

func TestAddAndStores(t *testing.T) {
	svc := service(t, nil)
	if err := svc.Add(components.Metadata{Name: "vault"}, failing{}); code(err) != "ERR_BAD_REQUEST" {
		t.Errorf("duplicate Add = %v; want ERR_BAD_REQUEST", err)
	}
	if err := svc.Add(components.Metadata{}, failing{}); code(err) != "ERR_BAD_REQUEST" {
		t.Errorf("nameless Add = %v; want ERR_BAD_REQUEST", err)
	}
	want := []secrets.StoreInfo{
		{Name: "broken", Type: "secretstores.test", Version: "v1"},
		{Name: "vault", Type: file.Type, Version: "v1"},
	}
	if diff := cmp.Diff(want, svc.Stores()); diff != "" {
		t.Errorf("Stores (-want +got):\n%s", diff)
	}
}
