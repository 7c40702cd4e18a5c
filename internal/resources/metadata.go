package resources

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/cove-env/cove/internal/spec"
)

// DefaultInitTimeout is Dapr's default for a component's initialisation.
const DefaultInitTimeout = 5 * time.Second

// ResolveMetadata resolves c's metadata without any secret store loaded;
// see ResolveMetadataFrom.
func ResolveMetadata(c *spec.Component) (map[string]string, error) {
	return ResolveMetadataFrom(context.Background(), c, nil)
}

// ResolveMetadataFrom turns metadata items into properties: plain values,
// the ACA format's own secrets, Dapr's envRef (read from this process's
// environment) and references into the secret store c names (Dapr's
// secretKeyRef with auth.secretStore, ACA's secretRef with
// secretStoreComponent), read from stores. Errors name the item's field.
func ResolveMetadataFrom(ctx context.Context, c *spec.Component, stores SecretStores) (map[string]string, error) {
	props := make(map[string]string, len(c.Metadata))
	for i, m := range c.Metadata {
		switch {
		case m.EnvRef != "":
			props[m.Name] = os.Getenv(m.EnvRef)
		case m.SecretRef == "":
			props[m.Name] = m.Value
		case c.Format == spec.FormatDapr || c.SecretStore != "":
			v, err := stores.lookup(ctx, c, m)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", refField(c, i), m.Name, err)
			}
			props[m.Name] = v
		default:
			i := slices.IndexFunc(c.Secrets, func(s spec.ComponentSecret) bool { return s.Name == m.SecretRef })
			if i < 0 {
				return nil, fmt.Errorf("metadata %s: secretRef %q names no secret in the component's secrets", m.Name, m.SecretRef)
			}
			if c.Secrets[i].Value == "" {
				return nil, fmt.Errorf("metadata %s: secret %q has no value (Key Vault secrets cannot be read locally; give it a value)", m.Name, m.SecretRef)
			}
			props[m.Name] = c.Secrets[i].Value
		}
	}
	return props, nil
}

// InitTimeout is c's initTimeout, Dapr's default when unset or invalid.
func InitTimeout(c *spec.Component) time.Duration {
	if c.InitTimeout != "" {
		if d, err := time.ParseDuration(c.InitTimeout); err == nil && d > 0 {
			return d
		}
	}
	return DefaultInitTimeout
}
