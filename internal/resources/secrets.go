package resources

import (
	"context"
	"fmt"
	"io"

	blocksecrets "github.com/cove-env/cove/internal/blocks/secrets"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/spec"
)

// SecretStoreKind is the component kind of secret stores.
const SecretStoreKind = "secretstores"

// SecretStore is one initialised secret store and the metadata it was
// initialised with.
type SecretStore struct {
	Metadata components.Metadata
	Store    secretstores.Store
}

// SecretStores are initialised secret stores by component name: what the
// secret references of components loaded after them read from.
type SecretStores map[string]secretstores.Store

// IsSecretStore reports whether c is a secret store component. Secret
// stores load before every other component, so the others can read them.
func IsSecretStore(c *spec.Component) bool { return c.Kind() == SecretStoreKind }

// CheckType reports whether c's type is registered in its version and is
// of a kind cove runs (state stores, secret stores); its errors are the
// ones validation shows.
func CheckType(c *spec.Component) error {
	if IsSecretStore(c) {
		_, err := NewSecretStore(c)
		return err
	}
	_, err := NewStore(c)
	return err
}

// NewSecretStore constructs c's secret store from the registry without
// initialising it.
func NewSecretStore(c *spec.Component) (secretstores.Store, error) {
	info, err := components.Lookup(c.Type, c.Version)
	if err != nil {
		return nil, err
	}
	store, ok := info.New().(secretstores.Store)
	if !ok {
		return nil, fmt.Errorf("component type %q is not a secret store", c.Type)
	}
	return store, nil
}

// LoadSecretStore constructs c's secret store, resolves its metadata
// (values, envRef; a reference into a secret store loaded earlier) and
// initialises it within its initTimeout.
func LoadSecretStore(ctx context.Context, c *spec.Component, md components.Metadata, stores SecretStores) (SecretStore, error) {
	store, err := NewSecretStore(c)
	if err != nil {
		return SecretStore{}, err
	}
	if err := initComponent(ctx, c, &md, stores, store.Init); err != nil {
		return SecretStore{}, err
	}
	return SecretStore{Metadata: md, Store: store}, nil
}

// CloseSecretStores closes every store, joining their errors.
func CloseSecretStores(stores []SecretStore) error {
	return closeAll(stores, func(st SecretStore) (string, io.Closer) { return st.Metadata.Name, st.Store })
}

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
