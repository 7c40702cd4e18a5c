package postgresql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/components/configuration/conformance"
	"github.com/cove-env/cove/internal/components/configuration/postgresql"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const conn = "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable"

// backend is a table in Dapr's layout with Dapr's documented trigger,
// unique to the test, dropped at its end.
type backend struct {
	pool                    *pgxpool.Pool
	table, channel, trigger string
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	stateconformance.NeedService(t, "PostgreSQL", "127.0.0.1:5432")
	pool, err := pgxpool.New(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	u := strings.TrimSuffix(conformance.Unique(), "_")
	b := &backend{pool: pool, table: u, channel: u + "_ch", trigger: u + "_notify"}
	for _, q := range []string{
		`CREATE TABLE ` + b.table + ` (key VARCHAR NOT NULL, value VARCHAR NOT NULL, version VARCHAR NOT NULL, metadata JSON)`,
		`CREATE FUNCTION ` + b.trigger + `() RETURNS TRIGGER AS $$
DECLARE
  data json;
  notification json;
BEGIN
  IF (TG_OP = 'DELETE') THEN data = row_to_json(OLD); ELSE data = row_to_json(NEW); END IF;
  notification = json_build_object('table', TG_TABLE_NAME, 'action', TG_OP, 'data', data);
  PERFORM pg_notify('` + b.channel + `', notification::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql`,
		`CREATE TRIGGER ` + b.trigger + ` AFTER INSERT OR UPDATE OR DELETE ON ` + b.table + ` FOR EACH ROW EXECUTE PROCEDURE ` + b.trigger + `()`,
	} {
		if _, err := pool.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, q := range []string{`DROP TABLE IF EXISTS ` + b.table, `DROP FUNCTION IF EXISTS ` + b.trigger} {
			if _, err := pool.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
		pool.Close()
	})
	return b
}

func (b *backend) Set(t *testing.T, key, value, version string) {
	t.Helper()
	tag, err := b.pool.Exec(t.Context(), `UPDATE `+b.table+` SET value = $2, version = $3 WHERE key = $1`, key, value, version)
	if err == nil && tag.RowsAffected() == 0 {
		_, err = b.pool.Exec(t.Context(), `INSERT INTO `+b.table+` (key, value, version, metadata) VALUES ($1, $2, $3, '{"team":"ops"}')`, key, value, version)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (b *backend) Delete(t *testing.T, key string) {
	t.Helper()
	if _, err := b.pool.Exec(t.Context(), `DELETE FROM `+b.table+` WHERE key = $1`, key); err != nil {
		t.Fatal(err)
	}
}

func (b *backend) open(t *testing.T, extra ...string) configuration.Store {
	t.Helper()
	props := map[string]string{"connectionString": conn, "table": b.table}
	for i := 0; i+1 < len(extra); i += 2 {
		props[extra[i]] = extra[i+1]
	}
	st, err := conformance.Open(t, postgresql.Type, props)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	b := newBackend(t)
	conformance.Run(t, func(t *testing.T) configuration.Store { return b.open(t, "notifyChannel", b.channel) }, b)
}

func TestVersionsAndMetadata(t *testing.T) {
	b := newBackend(t)
	st := b.open(t)
	ctx := t.Context()
	for _, v := range []string{"2", "10", "3"} {
		if _, err := b.pool.Exec(ctx, `INSERT INTO `+b.table+` VALUES ('k', 'v'||$1::text, $1, '{"team":"ops"}')`, v); err != nil {
			t.Fatal(err)
		}
	}
	items, err := st.Get(ctx, []string{"k"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if it := items["k"]; it == nil || it.Value != "v10" || it.Version != "10" || it.Metadata["team"] != "ops" {
		t.Fatalf("Get = %+v; want the row with the highest version, 10, and its metadata", items["k"])
	}
	if _, err := st.Get(ctx, []string{"bad key;"}, nil); err == nil {
		t.Error("Get of a key with ';' succeeded")
	}
}

func TestSubscribeChannelFromRequest(t *testing.T) {
	b := newBackend(t)
	st := b.open(t)
	if _, err := st.Subscribe(t.Context(), []string{"k"}, nil, func(context.Context, *configuration.Update) error { return nil }); err == nil ||
		!strings.Contains(err.Error(), "pgNotifyChannel") {
		t.Fatalf("Subscribe without a channel = %v; want an error naming pgNotifyChannel", err)
	}
	got := make(chan *configuration.Update, 1)
	if _, err := st.Subscribe(t.Context(), []string{"k"}, map[string]string{"pgNotifyChannel": b.channel}, func(_ context.Context, u *configuration.Update) error {
		got <- u
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b.Set(t, "k", "v", "1")
	select {
	case u := <-got:
		if it := u.Items["k"]; it == nil || it.Value != "v" || it.Metadata["team"] != "ops" {
			t.Fatalf("update = %+v", u.Items)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
}

func TestInitErrors(t *testing.T) {
	stateconformance.NeedService(t, "PostgreSQL", "127.0.0.1:5432")
	for _, c := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"connectionString": conn}, "metadata table is required"},
		{map[string]string{"connectionString": conn, "table": "Bad-Name"}, "metadata table"},
		{map[string]string{"connectionString": conn, "table": "cove_no_such_table_here"}, "does not exist"},
		{map[string]string{"connectionString": conn, "table": "t", "notifyChannel": "Upper"}, "notifyChannel"},
	} {
		_, err := conformance.Open(t, postgresql.Type, c.props)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Init(%v) = %v; want an error with %q", c.props, err, c.want)
		}
	}
}
