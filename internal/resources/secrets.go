package resources

import (
	"context"
	"fmt"

	blocksecrets "github.com/cove-env/cove/internal/blocks/secrets"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/spec"
)

// SecretStores are initialised secret stores by component name: what the
// secret references of components loaded after them read from.
type SecretStores map[string]secretstores.Store

// lookup reads the value m references in c's secret store: the secret
// m.SecretRef, and in it the key m.SecretKey or, as daprd does when no key
// is given, the key named like the secret.
func (s SecretStores) lookup(ctx context.Context, c *spec.Component, m spec.MetadataItem) (string, error) {
	field := "auth.secretStore"
	if c.Format == spec.FormatACA {
		field = "secretStoreComponent"
	}
	if c.SecretStore == "" {
		return "", fmt.Errorf("secret %q is read from a secret store, but %s names none", m.SecretRef, field)
	}
	store, ok := s[c.SecretStore]
	if !ok {
		return "", fmt.Errorf("secret store %q (%s) is not loaded; it must be a secretstores component of the environment that loaded without error", c.SecretStore, field)
	}
	data, err := store.GetSecret(ctx, secretstores.GetRequest{Name: m.SecretRef})
	if err != nil {
		return "", fmt.Errorf("secret %q from secret store %q: %w", m.SecretRef, c.SecretStore, err)
	}
	key := m.SecretKey
	if key == "" {
		key = m.SecretRef
	}
	v, ok := data[key]
	if !ok {
		return "", fmt.Errorf("secret %q in secret store %q has no key %q", m.SecretRef, c.SecretStore, key)
	}
	return v, nil
}

// refField is the path of metadata item i's secret reference in c's file.
func refField(c *spec.Component, i int) string {
	if c.Format == spec.FormatACA {
		return fmt.Sprintf("metadata[%d].secretRef", i)
	}
	return fmt.Sprintf("spec.metadata[%d].secretKeyRef", i)
}

// SecretScopes turns a Dapr Configuration's spec.secrets.scopes into the
// secrets block's scopes, by store name; nil without a Configuration.
func SecretScopes(c *spec.DaprConfiguration) map[string]blocksecrets.Scope {
	if c == nil || c.Secrets == nil || len(c.Secrets.Scopes) == 0 {
		return nil
	}
	out := make(map[string]blocksecrets.Scope, len(c.Secrets.Scopes))
	for _, sc := range c.Secrets.Scopes {
		out[sc.StoreName] = blocksecrets.Scope{
			DefaultAccess: sc.DefaultAccess, AllowedSecrets: sc.AllowedSecrets, DeniedSecrets: sc.DeniedSecrets,
		}
	}
	return out
}
