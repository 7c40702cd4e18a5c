package postgresql_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/components/state/postgresql"
)

const (
	addr    = "127.0.0.1:5432"
	connStr = "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable"
)

// rawPool is a direct connection for checking what the store wrote; it
// skips the test when PostgreSQL is not running (unless
// COVE_REQUIRE_SERVICES is set).
func rawPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	conformance.NeedService(t, "PostgreSQL", addr)
	pool, err := pgxpool.New(context.Background(), connStr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// tables returns fresh table names for one test and drops them, and only
// them, when it ends: table is v1's state table and v2's table prefix
// (less the "_"), meta the metadata table.
func tables(t testing.TB, pool *pgxpool.Pool) (table, meta string) {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	table, meta = "cove_state_"+suffix, "cove_meta_"+suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range []string{table, table + "_state", meta} {
			if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+n); err != nil {
				t.Errorf("drop %s: %v", n, err)
			}
		}
	})
	return table, meta
}

// props are a test's metadata for version: its own tables, no cleanup
// loop unless asked.
func props(version, table, meta string) map[string]string {
	p := map[string]string{"connectionString": connStr, "metadataTableName": meta, "cleanupInterval": "0"}
	if version == "v2" {
		p["tablePrefix"] = table + "_"
	} else {
		p["tableName"] = table
	}
	return p
}

func tryOpen(t testing.TB, version string, p map[string]string) (*postgresql.Store, error) {
	t.Helper()
	info, err := components.Lookup(postgresql.Type, version)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	s, ok := info.New().(*postgresql.Store)
	if !ok {
		t.Fatalf("%s does not build a *postgresql.Store", postgresql.Type)
	}
	md := components.Metadata{Name: "statestore", Type: postgresql.Type, Version: version, Properties: p}
	if err := s.Init(t.Context(), md); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, nil
}

func open(t testing.TB, version string, p map[string]string) *postgresql.Store {
	t.Helper()
	s, err := tryOpen(t, version, p)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	pool := rawPool(t)
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			table, meta := tables(t, pool)
			var opts []conformance.Option
			if version == "v1" {
				opts = append(opts, conformance.JSONNormalized())
			}
			conformance.Run(t, func(t *testing.T) state.Store { return open(t, version, props(version, table, meta)) }, opts...)
		})
	}
}

func TestInitErrors(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	tests := []struct {
		name    string
		version string
		props   map[string]string
		wantErr string
	}{
		{"no connection", "v1", map[string]string{}, "connectionString is required"},
		{"unreachable server names the host", "v1", map[string]string{"connectionString": "host=127.0.0.1 port=1 user=postgres database=test connect_timeout=2"}, "127.0.0.1:1"},
		{"parts override the connection string", "v2", map[string]string{"connectionString": connStr, "port": "1", "timeout": "2s"}, "127.0.0.1:1"},
		{"bad port", "v1", map[string]string{"connectionString": connStr, "port": "http"}, "port"},
		{"bad table name", "v1", map[string]string{"connectionString": connStr, "tableName": "state; DROP TABLE x"}, "tableName"},
		{"bad metadata table name", "v1", map[string]string{"connectionString": connStr, "metadataTableName": "a-b"}, "metadataTableName"},
		{"tablePrefix on v1", "v1", map[string]string{"connectionString": connStr, "tablePrefix": "x_"}, "tablePrefix"},
		{"tableName on v2", "v2", map[string]string{"connectionString": connStr, "tableName": table}, "tableName"},
		{"short timeout", "v1", map[string]string{"connectionString": connStr, "timeout": "10ms"}, "at least 1s"},
		{"bad cleanup interval", "v1", map[string]string{"connectionString": connStr, "cleanupInterval": "often"}, "cleanupInterval"},
		{"bad query mode", "v1", map[string]string{"connectionString": connStr, "queryExecMode": "fast"}, "queryExecMode"},
		{"token auth", "v1", map[string]string{"connectionString": connStr, "useAzureAD": "true"}, "useAzureAD"},
		{"password stays secret", "v1", map[string]string{"connectionString": "postgres://u:s3cret@[::1"}, "connectionString"},
		{"a key twice in different case", "v1", map[string]string{"connectionString": connStr, "TableName": table, "tableName": table, "metadataTableName": meta}, `metadata keys "TableName" and "tableName" are the same key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryOpen(t, tt.version, tt.props)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("init error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("init error shows the password: %v", err)
			}
		})
	}
}

// TestMetadataDaprForms checks that values daprd accepts start the store
// the same way: Dapr's boolean forms, timeouts in seconds, and keys only
// the sidecar reads.
func TestMetadataDaprForms(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	p := props("v1", table, meta)
	for k, v := range map[string]string{"useAzureAD": "False", "useAWSIAM": "no", "timeoutInSeconds": "30", "keyPrefix": "name", "actorStateStore": "yes"} {
		p[k] = v
	}
	s := open(t, "v1", p)
	if err := s.Set(t.Context(), &state.SetRequest{Key: "k", Value: []byte(`"v"`)}); err != nil {
		t.Fatalf("set: %v", err)
	}
}

type column struct {
	Name, Type string
	Nullable   bool
}

func columns(t *testing.T, pool *pgxpool.Pool, table string) []column {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT column_name, data_type, is_nullable = 'YES'
		FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.Type, &c.Nullable); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestDaprLayoutV1 checks v1's table and that rows written the way daprd
// writes them read back, ETags included.
func TestDaprLayoutV1(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	s := open(t, "v1", props("v1", table, meta))
	ctx := t.Context()

	want := []column{
		{"key", "text", false},
		{"value", "jsonb", false},
		{"isbinary", "boolean", false},
		{"insertdate", "timestamp with time zone", false},
		{"updatedate", "timestamp with time zone", true},
		{"expiredate", "timestamp with time zone", true},
	}
	if diff := cmp.Diff(want, columns(t, pool, table)); diff != "" {
		t.Fatalf("state table columns (-want +got):\n%s", diff)
	}
	var level string
	if err := pool.QueryRow(ctx, `SELECT value FROM `+meta+` WHERE key = 'migrations'`).Scan(&level); err != nil || level != "2" {
		t.Fatalf("migration level = %q, %v; want 2", level, err)
	}

	// Rows as daprd writes them: JSON, binary as a base64 JSON string.
	for _, q := range []string{
		`INSERT INTO ` + table + ` (key, value, isbinary) VALUES ('app||json', '{"n": 1}', false)`,
		`INSERT INTO ` + table + ` (key, value, isbinary) VALUES ('app||bin', '"AAH/"', true)`,
		`INSERT INTO ` + table + ` (key, value, isbinary, expiredate) VALUES ('app||gone', '1', false, CURRENT_TIMESTAMP - interval '1 second')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var xmin string
	if err := pool.QueryRow(ctx, `SELECT xmin::text FROM `+table+` WHERE key = 'app||json'`).Scan(&xmin); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"app||json": `{"n": 1}`, "app||bin": "\x00\x01\xff"} {
		resp, err := s.Get(ctx, &state.GetRequest{Key: key})
		if err != nil || string(resp.Data) != want || resp.ETag == nil {
			t.Fatalf("get %s = %q etag %v (%v), want %q", key, resp.Data, resp.ETag, err, want)
		}
	}
	resp, _ := s.Get(ctx, &state.GetRequest{Key: "app||json"})
	if *resp.ETag != xmin {
		t.Fatalf("etag %q, want the row's xmin %q", *resp.ETag, xmin)
	}
	if resp, _ := s.Get(ctx, &state.GetRequest{Key: "app||gone"}); resp.Data != nil {
		t.Fatalf("expired row is visible: %q", resp.Data)
	}

	// cove's rows are what daprd reads: JSON as jsonb, other bytes as a
	// base64 JSON string with isbinary set, expiry from ttlInSeconds.
	for key, v := range map[string][]byte{"app||text": []byte(`{"b":1,"a":"x"}`), "app||raw": {0xff, 0x00}} {
		if err := s.Set(ctx, &state.SetRequest{Key: key, Value: v, Metadata: map[string]string{"ttlInSeconds": "60"}}); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
	}
	type row struct {
		Value    string
		IsBinary bool
		Expires  bool
	}
	got := map[string]row{}
	rows, err := pool.Query(ctx, `SELECT key, value::text, isbinary,
		expiredate BETWEEN now() + interval '50 seconds' AND now() + interval '61 seconds'
		FROM `+table+` WHERE key IN ('app||text', 'app||raw')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.Value, &r.IsBinary, &r.Expires); err != nil {
			t.Fatal(err)
		}
		got[k] = r
	}
	wantRows := map[string]row{
		"app||text": {Value: `{"a": "x", "b": 1}`, Expires: true},
		"app||raw":  {Value: `"/wA="`, IsBinary: true, Expires: true},
	}
	if diff := cmp.Diff(wantRows, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}

// TestDaprLayoutV2 checks v2's table, its migration row and uuid ETags.
func TestDaprLayoutV2(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	s := open(t, "v2", props("v2", table, meta))
	ctx := t.Context()
	stateTable := table + "_state"

	want := []column{
		{"key", "text", false},
		{"value", "bytea", false},
		{"etag", "uuid", false},
		{"created_at", "timestamp with time zone", false},
		{"updated_at", "timestamp with time zone", true},
		{"expires_at", "timestamp with time zone", true},
	}
	if diff := cmp.Diff(want, columns(t, pool, stateTable)); diff != "" {
		t.Fatalf("state table columns (-want +got):\n%s", diff)
	}
	var level string
	if err := pool.QueryRow(ctx, `SELECT value FROM `+meta+` WHERE key = $1`, "migrations-state-v2-"+table+"_").Scan(&level); err != nil || level != "1" {
		t.Fatalf("migration level = %q, %v; want 1", level, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO `+stateTable+` (key, value) VALUES ('app||k', '\x00ff'::bytea)`); err != nil {
		t.Fatal(err)
	}
	var etag string
	if err := pool.QueryRow(ctx, `SELECT etag::text FROM `+stateTable+` WHERE key = 'app||k'`).Scan(&etag); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Get(ctx, &state.GetRequest{Key: "app||k"})
	if err != nil || string(resp.Data) != "\x00\xff" || resp.ETag == nil || *resp.ETag != etag {
		t.Fatalf("get = %q etag %v (%v), want 00ff etag %s", resp.Data, resp.ETag, err, etag)
	}
	if err := s.Set(ctx, &state.SetRequest{Key: "app||k", Value: []byte(`{"x":1}`), ETag: &etag}); err != nil {
		t.Fatalf("set with daprd's etag: %v", err)
	}
	var raw []byte
	if err := pool.QueryRow(ctx, `SELECT value FROM `+stateTable+` WHERE key = 'app||k'`).Scan(&raw); err != nil || string(raw) != `{"x":1}` {
		t.Fatalf("stored value %q (%v), want the bytes as given", raw, err)
	}
}

// TestReinitKeepsData opens a second store on the same tables, as a
// restarted sidecar does: the migration runs once and data stays.
func TestReinitKeepsData(t *testing.T) {
	pool := rawPool(t)
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			table, meta := tables(t, pool)
			p := props(version, table, meta)
			first := open(t, version, p)
			if err := first.Set(t.Context(), &state.SetRequest{Key: "k", Value: []byte(`"kept"`)}); err != nil {
				t.Fatal(err)
			}
			second := open(t, version, p)
			resp, err := second.Get(t.Context(), &state.GetRequest{Key: "k"})
			if err != nil || string(resp.Data) != `"kept"` {
				t.Fatalf("second store reads %q, %v", resp.Data, err)
			}
		})
	}
}

// TestCleanupDeletesExpiredRows lets the cleanup loop run often and waits
// for the expired row to leave the table (reads hide it before that).
func TestCleanupDeletesExpiredRows(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	p := props("v1", table, meta)
	p["cleanupInterval"] = "100ms"
	s := open(t, "v1", p)
	ctx := t.Context()
	if err := s.Set(ctx, &state.SetRequest{Key: "short", Value: []byte("1"), Metadata: map[string]string{"ttlInSeconds": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, &state.SetRequest{Key: "long", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE key = 'short'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired row still in the table")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE key = 'long'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row without ttl: count %d, %v", n, err)
	}
	var last string
	if err := pool.QueryRow(ctx, `SELECT value FROM `+meta+` WHERE key = 'last-cleanup'`).Scan(&last); err != nil {
		t.Fatalf("last-cleanup not recorded: %v", err)
	}
}

func TestQueryNeedsV1(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	s := open(t, "v2", props("v2", table, meta))
	if _, err := s.Query(t.Context(), &state.QueryRequest{}); err == nil {
		t.Fatal("v2 answered a query")
	}
	for _, f := range s.Features() {
		if f == state.FeatureQuery {
			t.Fatal("v2 reports QUERY_API")
		}
	}
}

// TestSchema puts both tables in a schema of their own, created by Init.
func TestSchema(t *testing.T) {
	pool := rawPool(t)
	table, meta := tables(t, pool)
	schema := table + "_schema"
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	p := props("v1", table, meta)
	p["schema"] = schema
	s := open(t, "v1", p)
	if err := s.Set(t.Context(), &state.SetRequest{Key: "k", Value: []byte(`"v"`)}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+schema+`.`+table+` WHERE key = 'k'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row in %s.%s: count %d, %v", schema, table, n, err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+schema+`.`+meta+` WHERE key = 'migrations'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration level in %s.%s: count %d, %v", schema, meta, n, err)
	}
}
