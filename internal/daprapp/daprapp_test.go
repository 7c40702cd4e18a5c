package daprapp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	blockactors "github.com/cove-env/cove/internal/blocks/actors"
	blockjobs "github.com/cove-env/cove/internal/blocks/jobs"
	pubsubmem "github.com/cove-env/cove/internal/components/pubsub/inmemory"
	"github.com/cove-env/cove/internal/components/secretstores/local/file"
	"github.com/cove-env/cove/internal/components/state/inmemory"
	"github.com/cove-env/cove/internal/daprapp"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
)

func TestSidecarConfigHasDaprsDefaults(t *testing.T) {
	rt, err := daprapp.New(daprapp.App{AppID: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rt.SidecarConfig(daprapp.Sidecar{AppAddr: "127.0.0.1:1"})
	if cfg.AppID != "orders" || cfg.AppProtocol != "http" || cfg.MaxRequestBodySize != sidecar.DefaultMaxRequestBodySize {
		t.Errorf("config = %+v, want app id orders, protocol http and a 4 MiB body limit", cfg)
	}
	if cfg.State == nil || cfg.Secrets != nil {
		t.Errorf("state %v, secrets %v; want a state block and no secrets block (none in scope)", cfg.State, cfg.Secrets)
	}
	if _, err := daprapp.New(daprapp.App{}); err == nil {
		t.Error("an app without an app id was built")
	}
}

// Actors need the scheduler: their reminders are its jobs.
func TestActorsNeedAScheduler(t *testing.T) {
	_, err := daprapp.New(daprapp.App{AppID: "orders", Placement: blockactors.NewPlacement()})
	if err == nil || !strings.Contains(err.Error(), "app orders: actors: a jobs scheduler is required") {
		t.Fatalf("actors without a scheduler: %v", err)
	}
	s, err := blockjobs.Open(t.Context(), filepath.Join(t.TempDir(), "jobs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rt, err := daprapp.New(daprapp.App{AppID: "orders", Placement: blockactors.NewPlacement(), Scheduler: s})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := rt.SidecarConfig(daprapp.Sidecar{AppAddr: "127.0.0.1:1"}); cfg.Actors == nil {
		t.Error("an app with a placement and a scheduler has no actor runtime")
	}
}

func TestBlocksTakeTheComponentsInScope(t *testing.T) {
	secrets := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(secrets, []byte(`{"k": "v"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	comps := []*spec.Component{
		{Name: "shared", Type: inmemory.Type, Version: "v1"},
		{Name: "billing-only", Type: inmemory.Type, Version: "v1", Scopes: []string{"billing"}},
		{Name: "vault", Type: file.Type, Version: "v1", Metadata: []spec.MetadataItem{{Name: "secretsFile", Value: secrets}}},
	}
	set, err := resources.Load(t.Context(), comps, resources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	rt, err := daprapp.New(daprapp.App{AppID: "orders", Components: set, MaxRequestBodySize: 8 << 20, MaxHeaderBytes: 16 << 10,
		Config: &spec.DaprConfiguration{Secrets: &spec.SecretsSpec{Scopes: []spec.SecretScope{{StoreName: "vault", DefaultAccess: "deny"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	cfg := rt.SidecarConfig(daprapp.Sidecar{})
	if cfg.MaxRequestBodySize != 8<<20 || cfg.MaxHeaderBytes != 16<<10 {
		t.Errorf("limits %d, %d; want the app's", cfg.MaxRequestBodySize, cfg.MaxHeaderBytes)
	}
	var stores []string
	for _, st := range cfg.State.Stores() {
		stores = append(stores, st.Name)
	}
	if len(stores) != 1 || stores[0] != "shared" {
		t.Errorf("state stores = %v, want only shared (billing-only is scoped)", stores)
	}
	if cfg.Secrets == nil {
		t.Fatal("no secrets block with a secret store in scope")
	}
	// The Configuration's secret scopes apply: vault denies by default.
	if _, err := cfg.Secrets.Get(t.Context(), "vault", "k", nil); err == nil {
		t.Error("a secret denied by the Configuration's secrets.scopes was read")
	}
}

// TestDeclarativeBulkSubscribe: a Subscription resource's bulkSubscribe
// reaches the sidecar's subscription, limits left out taking daprd's
// defaults.
func TestDeclarativeBulkSubscribe(t *testing.T) {
	set, err := resources.Load(t.Context(), []*spec.Component{{Name: "pubsub", Type: pubsubmem.Type, Version: "v1"}}, resources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	subs := []*spec.Subscription{
		{Name: "batched", Pubsub: "pubsub", Topic: "orders", Default: "/orders", Bulk: &spec.SubscriptionBulk{MaxMessagesCount: 20}},
		{Name: "single", Pubsub: "pubsub", Topic: "audit", Default: "/audit"},
	}
	rt, err := daprapp.New(daprapp.App{AppID: "orders", Components: set, Subscriptions: subs})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	got := rt.SidecarConfig(daprapp.Sidecar{}).Subscriptions
	if len(got) != 2 || got[1].Bulk != nil {
		t.Fatalf("subscriptions = %+v, want two, the second without bulk", got)
	}
	if b := got[0].Bulk; b == nil || b.MaxMessages != 20 || b.MaxAwait != time.Second {
		t.Errorf("bulk = %+v, want 20 messages and daprd's 1s", b)
	}
}
