// Package configuration defines the interface every configuration store
// implements: read items by key, and subscribe to their changes.
// Implementations live in subpackages (redis, postgresql) and register with
// the components registry; the conformance subpackage is the one suite they
// all pass against their real servers.
package configuration

import (
	"context"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of configuration stores.
const Kind = "configuration"

func init() { components.RegisterKind(components.KindOf[Store](Kind)) }

// Item is one configuration item, as Dapr's API returns it.
type Item struct {
	Value    string            `json:"value,omitempty"`
	Version  string            `json:"version,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Update is one change a subscription reports: the items that changed,
// by key. A deleted key is reported with an empty Item.
type Update struct {
	// ID is the subscription's id.
	ID    string           `json:"id"`
	Items map[string]*Item `json:"items"`
}

// Handler receives a subscription's updates, one at a time and in the
// order the store saw the changes. Its error is logged by the store; the
// subscription goes on.
type Handler func(ctx context.Context, u *Update) error

// Store reads configuration items and reports their changes.
type Store interface {
	components.Component
	// Get reads the items of keys; no keys reads every item. A key that
	// does not exist is left out, not an error.
	Get(ctx context.Context, keys []string, metadata map[string]string) (map[string]*Item, error)
	// Subscribe reports changes of keys (of every key when none is given)
	// to h until ctx ends or Unsubscribe(id). It returns once the store
	// is listening: a change made after it returns is reported.
	Subscribe(ctx context.Context, keys []string, metadata map[string]string, h Handler) (id string, err error)
	// Unsubscribe stops the subscription id; an id the store does not
	// know is an error.
	Unsubscribe(ctx context.Context, id string) error
}
