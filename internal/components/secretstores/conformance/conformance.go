package conformance

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components/secretstores"
)

// Fixture is what the caller has put in the store before Run: secrets by
// name, each with its key/value pairs as GetSecret must answer them.
type Fixture map[string]map[string]string

// Options describe what the store under test holds.
type Options struct {
	// Secrets are the secrets the store holds (at least one).
	Secrets Fixture
	// Missing is a secret name the store does not hold.
	Missing string
	// MissingIsEmpty is set for stores that answer an unknown name with an
	// empty value instead of ErrNotFound (Dapr's environment store does).
	MissingIsEmpty bool
	// BulkExact says BulkGetSecret holds exactly Secrets; otherwise (the
	// environment store sees the whole process environment) it must only
	// contain them.
	BulkExact bool
}

// Run checks the store that newStore returns, initialised over what opts
// describes. newStore is called once per case; the suite closes each store.
func Run(t *testing.T, newStore func(t *testing.T) secretstores.Store, opts Options) {
	t.Helper()
	if len(opts.Secrets) == 0 {
		t.Fatal("conformance: the fixture holds no secrets")
	}
	open := func(t *testing.T) (secretstores.Store, context.Context) {
		st := newStore(t)
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return st, t.Context()
	}

	t.Run("get each secret", func(t *testing.T) {
		st, ctx := open(t)
		for name, want := range opts.Secrets {
			got, err := st.GetSecret(ctx, secretstores.GetRequest{Name: name})
			if err != nil {
				t.Errorf("GetSecret(%q): %v", name, err)
				continue
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GetSecret(%q) (-want +got):\n%s", name, diff)
			}
		}
	})

	t.Run("get with metadata", func(t *testing.T) {
		st, ctx := open(t)
		for name, want := range opts.Secrets {
			got, err := st.GetSecret(ctx, secretstores.GetRequest{Name: name, Metadata: map[string]string{"version": "1"}})
			if err != nil {
				t.Fatalf("GetSecret(%q) with metadata: %v", name, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GetSecret(%q) with metadata (-want +got):\n%s", name, diff)
			}
			break
		}
	})

	t.Run("missing secret", func(t *testing.T) {
		st, ctx := open(t)
		got, err := st.GetSecret(ctx, secretstores.GetRequest{Name: opts.Missing})
		if opts.MissingIsEmpty {
			if err != nil {
				t.Fatalf("GetSecret(%q): %v", opts.Missing, err)
			}
			if diff := cmp.Diff(map[string]string{opts.Missing: ""}, got); diff != "" {
				t.Errorf("GetSecret(%q) (-want +got):\n%s", opts.Missing, diff)
			}
			return
		}
		if !errors.Is(err, secretstores.ErrNotFound) {
			t.Errorf("GetSecret(%q) = %v, %v; want an error wrapping ErrNotFound", opts.Missing, got, err)
		}
	})

	t.Run("bulk get", func(t *testing.T) {
		st, ctx := open(t)
		got, err := st.BulkGetSecret(ctx, secretstores.BulkGetRequest{})
		if err != nil {
			t.Fatalf("BulkGetSecret: %v", err)
		}
		if opts.BulkExact {
			if diff := cmp.Diff(map[string]map[string]string(opts.Secrets), got); diff != "" {
				t.Errorf("BulkGetSecret (-want +got):\n%s", diff)
			}
			return
		}
		for name, want := range opts.Secrets {
			if diff := cmp.Diff(want, got[name]); diff != "" {
				t.Errorf("BulkGetSecret[%q] (-want +got):\n%s", name, diff)
			}
		}
		if _, ok := got[opts.Missing]; ok {
			t.Errorf("BulkGetSecret holds %q, which the store does not have", opts.Missing)
		}
	})

	t.Run("concurrent reads", func(t *testing.T) {
		st, ctx := open(t)
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				for name := range opts.Secrets {
					if _, err := st.GetSecret(ctx, secretstores.GetRequest{Name: name}); err != nil {
						errs <- err
						return
					}
				}
				_, err := st.BulkGetSecret(ctx, secretstores.BulkGetRequest{})
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Errorf("concurrent read: %v", err)
			}
		}
	})
}
