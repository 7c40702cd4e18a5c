package env

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
)

// Type is the component type this package registers.
const Type = "secretstores.local.env"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return &Store{} }})
}

var _ secretstores.Store = (*Store)(nil)

// Store reads the process environment; it is safe for concurrent use.
type Store struct {
	prefix string
	name   string
}

// Init reads the prefix metadata item.
func (s *Store) Init(_ context.Context, md components.Metadata) error {
	var m struct {
		Prefix string `metadata:"prefix"`
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	s.prefix, s.name = m.Prefix, md.Name
	return err
}

// GetSecret returns {name: value}. Like Dapr, an unset variable (or one it
// withholds) is an empty value, not an error.
func (s *Store) GetSecret(ctx context.Context, req secretstores.GetRequest) (map[string]string, error) {
	key := s.prefix + req.Name
	var v string
	if allowed(key) {
		v = os.Getenv(key)
	} else {
		slog.WarnContext(ctx, "environment variable withheld from the secret store", "component", s.name, "secret", req.Name)
	}
	return map[string]string{req.Name: v}, nil
}

// BulkGetSecret returns every visible variable as {name: {name: value}}.
func (s *Store) BulkGetSecret(context.Context, secretstores.BulkGetRequest) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, s.prefix)
		if !ok || name == "" || !allowed(k) {
			continue
		}
		out[name] = map[string]string{name: v}
	}
	return out, nil
}

// Close does nothing: the store holds no resources.
func (s *Store) Close() error { return nil }

// allowed keeps the sidecar's own variables from apps, as Dapr does.
func allowed(key string) bool {
	k := strings.ToUpper(key)
	return k != "APP_API_TOKEN" && !strings.HasPrefix(k, "DAPR_")
}
