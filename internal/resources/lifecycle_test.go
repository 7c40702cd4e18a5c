package resources_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components"
	_ "github.com/cove-env/cove/internal/components/all"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/components/secretstores/local/file"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/inmemory"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// closeCounter is an in-memory store that counts its Close calls.
type closeCounter struct {
	*inmemory.Store
	closed *atomic.Int32
}

func (c closeCounter) Close() error { c.closed.Add(1); return c.Store.Close() }

var closes atomic.Int32

const (
	countingType = "state.resources-test-counting"
	slowType     = "state.resources-test-slow"
)

func init() {
	components.Register(components.Info{Type: countingType, New: func() any { return closeCounter{Store: inmemory.New(), closed: &closes} }})
	components.Register(components.Info{Type: slowType, New: func() any { return slowStore{Store: inmemory.New()} }})
}

func TestLoadEveryKindSecretStoresFirst(t *testing.T) {
	// The state store comes first in the list and reads the vault's
	// secret: the vault must load before it.
	cache := &spec.Component{Name: "cache", Type: inmemory.Type, Version: "v1", Format: spec.FormatDapr, SecretStore: "vault",
		Metadata: []spec.MetadataItem{{Name: "keyPrefix", SecretRef: "token"}}}
	orders := &spec.Component{Name: "orders", Type: inmemory.Type, Version: "v1", Scopes: []string{"orders"}}
	var loaded []string
	set, err := resources.Load(t.Context(), []*spec.Component{cache, orders, vaultSpec(t)}, resources.Options{
		AppID: "orders", BaseDir: t.TempDir(), Loaded: func(c *resources.Component) { loaded = append(loaded, c.Spec.Name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if diff := cmp.Diff([]string{"vault", "cache", "orders"}, loaded); diff != "" {
		t.Errorf("load order (-want +got):\n%s", diff)
	}
	stores := resources.Of[cstate.Store](set, "orders")
	if len(stores) != 2 || stores[0].Metadata.Name != "cache" || stores[1].Metadata.Name != "orders" {
		t.Fatalf("state stores of orders = %+v, want cache and orders", stores)
	}
	md := stores[0].Metadata
	if md.Type != inmemory.Type || md.AppID != "orders" || md.Properties["keyPrefix"] != "t-1" {
		t.Errorf("metadata = %+v, want the app id, the type and the secret's value", md)
	}
	if got := resources.Of[cstate.Store](set, "billing"); len(got) != 1 || got[0].Metadata.Name != "cache" {
		t.Errorf("state stores of billing = %+v, want only cache (orders is scoped)", got)
	}
	if got := resources.Of[secretstores.Store](set, "orders"); len(got) != 1 || got[0].Metadata.Name != "vault" {
		t.Errorf("secret stores = %+v, want vault", got)
	}
}

func TestLoadSkipsFailuresWithIgnoreErrors(t *testing.T) {
	// A kind cove does not run: crypto.
	pubsub := &spec.Component{Name: "pubsub", Type: "crypto.dapr.jwks", Version: "v1", IgnoreErrors: true, File: "pubsub.yaml", TypeLine: 6}
	bad := &spec.Component{Name: "bad", Type: file.Type, Version: "v1", IgnoreErrors: true,
		Metadata: []spec.MetadataItem{{Name: "secretsFile", Value: "/nonexistent/secrets.json"}}}
	cache := &spec.Component{Name: "cache", Type: inmemory.Type, Version: "v1"}
	set, err := resources.Load(t.Context(), []*spec.Component{pubsub, bad, cache}, resources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var status []string
	for _, c := range set.All() {
		status = append(status, c.Spec.Name+":"+map[bool]string{true: "failed", false: "loaded"}[c.Err != nil])
	}
	if diff := cmp.Diff([]string{"bad:failed", "pubsub:failed", "cache:loaded"}, status); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if err := set.All()[1].Err; !errors.Is(err, components.ErrNotSupported) {
		t.Errorf("crypto.dapr.jwks failed with %v, want ErrNotSupported", err)
	}
	if got := resources.Of[secretstores.Store](set, ""); len(got) != 0 {
		t.Errorf("secret stores = %+v, want none (bad failed)", got)
	}
}

func TestLoadClosesWhatItOpenedOnFailure(t *testing.T) {
	before := closes.Load()
	first := &spec.Component{Name: "first", Type: countingType, Version: "v1"}
	second := &spec.Component{Name: "second", Type: countingType, Version: "v1"}
	pubsub := &spec.Component{Name: "pubsub", Type: "crypto.dapr.jwks", Version: "v1", File: "components/pubsub.yaml", TypeLine: 6}
	set, err := resources.Load(t.Context(), []*spec.Component{first, second, pubsub}, resources.Options{})
	if err == nil {
		set.Close()
		t.Fatal("a component kind cove does not run loaded without ignoreErrors")
	}
	for _, want := range []string{"component pubsub (crypto.dapr.jwks) in components/pubsub.yaml:6", "not supported yet by cove"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := closes.Load() - before; n != 2 {
		t.Errorf("%d components closed, want the 2 opened before the failure", n)
	}
}

// slowStore never finishes Init before its context ends.
type slowStore struct{ *inmemory.Store }

func (slowStore) Init(ctx context.Context, _ components.Metadata) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestLoadStopsAtInitTimeout(t *testing.T) {
	c := &spec.Component{Name: "slow", Type: slowType, Version: "v1", InitTimeout: "50ms"}
	_, err := resources.Load(t.Context(), []*spec.Component{c}, resources.Options{})
	if err == nil || !strings.Contains(err.Error(), "not ready within initTimeout 50ms") {
		t.Errorf("error = %v, want one naming initTimeout 50ms", err)
	}
}

func TestCheckType(t *testing.T) {
	tests := []struct {
		name, typ, wantErr string
		notSupported       bool
	}{
		{"state store", inmemory.Type, "", false},
		{"secret store", file.Type, "", false},
		{"Dapr secret store cove does not run", "secretstores.azure.keyvault", "not supported yet by cove; the secretstores types it runs are: secretstores.local.env, secretstores.local.file", true},
		{"Dapr kind cove does not run", "crypto.dapr.jwks", `component type "crypto.dapr.jwks" is not supported yet by cove`, true},
		{"name resolution is no component file", "nameresolution.sqlite", "not supported yet by cove as a component file", true},
		{"typo", "state.rediss", `unknown component type "state.rediss"; did you mean "state.redis"?`, false},
		{"typo of a type cove does not run", "pubsub.rabitmq", `did you mean "pubsub.rabbitmq"?`, false},
		{"nothing close", "state.zzzzzzzzzzzzzz", "unknown component type", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := resources.CheckType(&spec.Component{Type: tt.typ, Version: "v1"})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckType(%s) = %v; want %q", tt.typ, err, tt.wantErr)
			}
			if errors.Is(err, components.ErrNotSupported) != tt.notSupported {
				t.Errorf("CheckType(%s) = %v; errors.Is(ErrNotSupported) should be %v", tt.typ, err, tt.notSupported)
			}
		})
	}
}

func TestInitComponentNoFileDeclares(t *testing.T) {
	// Name resolution is named by a Configuration, not loaded from a
	// component file, but is constructed and initialised the same way.
	c := &spec.Component{Name: "nameresolution", Type: "nameresolution.sqlite", Version: "v1",
		Metadata: []spec.MetadataItem{{Name: "connectionString", Value: "nr.db"}}}
	lc, err := resources.Init(t.Context(), c, resources.Options{AppID: "orders", BaseDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Instance.Close()
	if _, ok := lc.Instance.(nameresolution.Registry); !ok || lc.Metadata.Properties["connectionString"] != "nr.db" || lc.Metadata.AppID != "orders" {
		t.Errorf("component = %+v, want a name resolution registry initialised with the metadata", lc)
	}
	if _, err := resources.Init(t.Context(), &spec.Component{Type: "nameresolution.sqlit", Version: "v1"}, resources.Options{}); err == nil ||
		!strings.Contains(err.Error(), `did you mean "nameresolution.sqlite"?`) {
		t.Errorf("error = %v, want the likely intended type", err)
	}
}

func TestUpdateSharesWhatDidNotChange(t *testing.T) {
	kept := &spec.Component{Name: "kept", Type: countingType, Version: "v1"}
	changed := &spec.Component{Name: "changed", Type: countingType, Version: "v1"}
	gone := &spec.Component{Name: "gone", Type: countingType, Version: "v1"}
	set, err := resources.Load(t.Context(), []*spec.Component{kept, changed, gone}, resources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	before := closes.Load()
	next := &spec.Component{Name: "changed", Type: countingType, Version: "v1", Scopes: []string{"api"}}
	added := &spec.Component{Name: "added", Type: inmemory.Type, Version: "v1"}
	var loaded []string
	up, dropped, err := set.Update(t.Context(), []*spec.Component{next, added}, []string{"gone"}, resources.Options{
		Loaded: func(c *resources.Component) { loaded = append(loaded, c.Spec.Name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close() // what it shares with set closes once
	var names []string
	for _, c := range up.All() {
		names = append(names, c.Spec.Name)
	}
	if diff := cmp.Diff([]string{"kept", "changed", "added"}, names); diff != "" {
		t.Errorf("the new set (-want +got):\n%s", diff)
	}
	if up.All()[0] != set.All()[0] || up.All()[1] == set.All()[1] {
		t.Error("the unchanged component is not shared, or the changed one is")
	}
	if diff := cmp.Diff([]string{"changed", "added"}, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	if len(dropped) != 2 || dropped[0].Spec.Name != "changed" || dropped[1].Spec.Name != "gone" || closes.Load() != before {
		t.Errorf("dropped %d components (closes %d); want the old changed and gone, still open", len(dropped), closes.Load()-before)
	}
	if err := resources.Close(dropped); err != nil || closes.Load()-before != 2 {
		t.Errorf("closing the dropped: %v, %d closed", err, closes.Load()-before)
	}
	if got := resources.Of[cstate.Store](up, "api"); len(got) != 3 {
		t.Errorf("state stores of api in the new set: %d, want 3", len(got))
	}

	// A component that fails closes what the update loaded and leaves the
	// set as it was.
	before = closes.Load()
	bad := &spec.Component{Name: "bad", Type: "crypto.dapr.jwks", Version: "v1"}
	fresh := &spec.Component{Name: "fresh", Type: countingType, Version: "v1"}
	if _, _, err := up.Update(t.Context(), []*spec.Component{fresh, bad}, nil, resources.Options{}); err == nil || !strings.Contains(err.Error(), "component bad") {
		t.Errorf("update with a failing component: %v", err)
	}
	if closes.Load()-before != 1 || len(up.All()) != 3 {
		t.Errorf("after the failed update: %d closed (want fresh), the set has %d components", closes.Load()-before, len(up.All()))
	}
}
