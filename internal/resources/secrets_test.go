package resources_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/components/secretstores/local/file"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// vault loads a real local.file secret store, multi-valued.
func vault(t *testing.T) resources.SecretStores {
	t.Helper()
	set, err := resources.Load(t.Context(), []*spec.Component{vaultSpec(t)}, resources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	stores := resources.SecretStores{}
	for _, st := range resources.Of[secretstores.Store](set, "") {
		stores[st.Metadata.Name] = st.Instance
	}
	return stores
}

// vaultSpec is a local.file secret store "vault" over a new file.
func vaultSpec(t *testing.T) *spec.Component {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(p, []byte(`{"redis": {"password": "r-pw", "user": "r-user"}, "token": "t-1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return &spec.Component{Name: "vault", Type: file.Type, Version: "v1", Format: spec.FormatDapr, Metadata: []spec.MetadataItem{
		{Name: "secretsFile", Value: p}, {Name: "multiValued", Value: "true"},
	}}
}

func TestResolveMetadataFromSecretStore(t *testing.T) {
	stores := vault(t)
	tests := []struct {
		name    string
		in      spec.Component
		want    map[string]string
		wantErr string
	}{
		{name: "secretKeyRef with a key", in: spec.Component{Format: spec.FormatDapr, SecretStore: "vault",
			Metadata: []spec.MetadataItem{{Name: "redisPassword", SecretRef: "redis", SecretKey: "password"}, {Name: "redisHost", Value: "h"}}},
			want: map[string]string{"redisPassword": "r-pw", "redisHost": "h"}},
		{name: "secretKeyRef without a key reads the key named like the secret", in: spec.Component{Format: spec.FormatDapr, SecretStore: "vault",
			Metadata: []spec.MetadataItem{{Name: "token", SecretRef: "token"}}},
			want: map[string]string{"token": "t-1"}},
		{name: "ACA secretRef through secretStoreComponent", in: spec.Component{Format: spec.FormatACA, SecretStore: "vault",
			Metadata: []spec.MetadataItem{{Name: "token", SecretRef: "token"}}},
			want: map[string]string{"token": "t-1"}},
		{name: "missing secret", in: spec.Component{Format: spec.FormatDapr, SecretStore: "vault",
			Metadata: []spec.MetadataItem{{Name: "a", Value: "1"}, {Name: "redisPassword", SecretRef: "nope", SecretKey: "password"}}},
			wantErr: `spec.metadata[1].secretKeyRef (redisPassword): secret "nope" from secret store "vault": secret not found`},
		{name: "missing key", in: spec.Component{Format: spec.FormatDapr, SecretStore: "vault",
			Metadata: []spec.MetadataItem{{Name: "redisPassword", SecretRef: "redis", SecretKey: "pw"}}},
			wantErr: `spec.metadata[0].secretKeyRef (redisPassword): secret "redis" in secret store "vault" has no key "pw"`},
		{name: "store not loaded", in: spec.Component{Format: spec.FormatDapr, SecretStore: "other",
			Metadata: []spec.MetadataItem{{Name: "redisPassword", SecretRef: "redis"}}},
			wantErr: `secret store "other" (auth.secretStore) is not loaded`},
		{name: "ACA store not loaded", in: spec.Component{Format: spec.FormatACA, SecretStore: "other",
			Metadata: []spec.MetadataItem{{Name: "pw", SecretRef: "redis"}}},
			wantErr: `metadata[0].secretRef (pw): secret store "other" (secretStoreComponent) is not loaded`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resources.ResolveMetadataFrom(t.Context(), &tt.in, stores)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
		})
	}
}
