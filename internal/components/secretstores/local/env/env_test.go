package env_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/components/secretstores/conformance"
	"github.com/cove-env/cove/internal/components/secretstores/local/env"
)

// prefix is unique per run so the test only ever sees variables it set.
func prefix() string { return fmt.Sprintf("COVETEST_%d_", time.Now().UnixNano()) }

func open(t *testing.T, props map[string]string) *env.Store {
	t.Helper()
	st := &env.Store{}
	if err := st.Init(t.Context(), components.Metadata{Name: "envs", Type: env.Type, Properties: props}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return st
}

func TestConformanceWithPrefix(t *testing.T) {
	p := prefix()
	t.Setenv(p+"API_KEY", "k-123")
	t.Setenv(p+"DB_PASSWORD", "p@ss")
	conformance.Run(t, func(t *testing.T) secretstores.Store {
		return open(t, map[string]string{"prefix": p})
	}, conformance.Options{
		Secrets: conformance.Fixture{
			"API_KEY":     {"API_KEY": "k-123"},
			"DB_PASSWORD": {"DB_PASSWORD": "p@ss"},
		},
		Missing:        "NOT_SET",
		MissingIsEmpty: true,
		BulkExact:      true, // the prefix hides the rest of the environment
	})
}

func TestConformanceWithoutPrefix(t *testing.T) {
	p := prefix()
	t.Setenv(p+"TOKEN", "t-1")
	conformance.Run(t, func(t *testing.T) secretstores.Store {
		return open(t, nil)
	}, conformance.Options{
		Secrets:        conformance.Fixture{p + "TOKEN": {p + "TOKEN": "t-1"}},
		Missing:        p + "NOT_SET",
		MissingIsEmpty: true,
	})
}

func TestWithheldVariables(t *testing.T) {
	t.Setenv("DAPR_API_TOKEN", "sidecar-only")
	t.Setenv("APP_API_TOKEN", "app-only")
	st := open(t, nil)
	for _, name := range []string{"DAPR_API_TOKEN", "APP_API_TOKEN", "dapr_api_token"} {
		got, err := st.GetSecret(t.Context(), secretstores.GetRequest{Name: name})
		if err != nil {
			t.Fatalf("GetSecret(%s): %v", name, err)
		}
		if diff := cmp.Diff(map[string]string{name: ""}, got); diff != "" {
			t.Errorf("GetSecret(%s) (-want +got):\n%s", name, diff)
		}
	}
	all, err := st.BulkGetSecret(t.Context(), secretstores.BulkGetRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DAPR_API_TOKEN", "APP_API_TOKEN"} {
		if _, ok := all[name]; ok {
			t.Errorf("BulkGetSecret returned %s", name)
		}
	}
}
