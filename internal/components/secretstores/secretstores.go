package secretstores

import (
	"context"
	"errors"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of secret stores. They load before every
// other component, so the others' secretKeyRefs can read them.
const Kind = "secretstores"

func init() { components.RegisterKind(components.KindOf[Store](Kind)) }

// ErrNotFound is what a store wraps when the named secret does not exist,
// so callers tell a missing secret from a failing store with errors.Is.
var ErrNotFound = errors.New("secret not found")

// GetRequest reads one secret.
type GetRequest struct {
	// Name is the secret's name.
	Name string
	// Metadata is the request's per-store options (metadata.<key> query
	// parameters), e.g. a version.
	Metadata map[string]string
}

// BulkGetRequest reads every secret the store holds.
type BulkGetRequest struct {
	Metadata map[string]string
}

// Store is the interface every secret store implements.
type Store interface {
	// Init reads the store's configuration and prepares it; its errors
	// name the metadata item or file at fault.
	Init(ctx context.Context, md components.Metadata) error
	// GetSecret returns the key/value pairs of one secret; an unknown
	// name is an error wrapping ErrNotFound.
	GetSecret(ctx context.Context, req GetRequest) (map[string]string, error)
	// BulkGetSecret returns every secret by name.
	BulkGetSecret(ctx context.Context, req BulkGetRequest) (map[string]map[string]string, error)
	Close() error
}
