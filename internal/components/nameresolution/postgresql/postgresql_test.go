package postgresql_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/nameresolution"
	"github.com/cove-env/cove/internal/components/nameresolution/conformance"
	"github.com/cove-env/cove/internal/components/nameresolution/postgresql"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const (
	addr    = "127.0.0.1:5432"
	connStr = "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable"
)

// table returns a table name of this test's own and drops it at the end.
func table(t *testing.T) string {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "cove_nr_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, connStr)
		if err != nil {
			return
		}
		defer pool.Close()
		_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+name)
	})
	return name
}

func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "PostgreSQL", addr)
	tbl := table(t)
	conformance.Run(t, func(t *testing.T, props map[string]string) nameresolution.Registry {
		md := components.Metadata{Name: "nr", Type: postgresql.Type, Version: "v1",
			Properties: map[string]string{"connectionString": connStr, "tableName": tbl}}
		for k, v := range props {
			md.Properties[k] = v
		}
		r := postgresql.New()
		if err := r.Init(t.Context(), md); err != nil {
			t.Fatalf("Init: %v", err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	})
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
	}{
		{"no connection string", map[string]string{}},
		{"bad table name", map[string]string{"connectionString": connStr, "tableName": "x y"}},
		{"unparsable connection string", map[string]string{"connectionString": "postgres://a b:%zz@"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := postgresql.New()
			if err := r.Init(t.Context(), components.Metadata{Name: "nr", Properties: tc.props}); err == nil {
				_ = r.Close()
				t.Fatal("Init succeeded")
			}
		})
	}
}
