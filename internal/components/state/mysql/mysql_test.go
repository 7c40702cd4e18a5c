package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/components/state/mysql"
)

const (
	addr    = "127.0.0.1:3306"
	connStr = "root:@tcp(127.0.0.1:3306)/"
	schema  = "test"
)

// rawDB is a direct connection to the test schema for checking what the
// store wrote; it skips the test when the server is not running (unless
// COVE_REQUIRE_SERVICES is set).
func rawDB(t testing.TB) *sql.DB {
	t.Helper()
	conformance.NeedService(t, "MySQL/MariaDB", addr)
	db, err := sql.Open("mysql", connStr+schema+"?parseTime=true&time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// tables returns fresh table names for one test and drops them, and only
// them, when it ends.
func tables(t testing.TB, db *sql.DB) (table, meta string) {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	table, meta = "cove_state_"+suffix, "cove_meta_"+suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range []string{table, meta} {
			if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+n); err != nil {
				t.Errorf("drop %s: %v", n, err)
			}
		}
	})
	return table, meta
}

func props(table, meta string) map[string]string {
	return map[string]string{
		"connectionString": connStr, "schemaName": schema, "tableName": table,
		"metadataTableName": meta, "cleanupIntervalInSeconds": "0",
	}
}

func tryOpen(t testing.TB, p map[string]string) (*mysql.Store, error) {
	t.Helper()
	info, err := components.Lookup(mysql.Type, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	s, ok := info.New().(*mysql.Store)
	if !ok {
		t.Fatalf("%s does not build a *mysql.Store", mysql.Type)
	}
	md := components.Metadata{Name: "statestore", Type: mysql.Type, Version: "v1", Properties: p}
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

func open(t testing.TB, p map[string]string) *mysql.Store {
	t.Helper()
	s, err := tryOpen(t, p)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	db := rawDB(t)
	table, meta := tables(t, db)
	conformance.Run(t, func(t *testing.T) state.Store { return open(t, props(table, meta)) }, conformance.MaxKeyLength(255))
}

func TestInitErrors(t *testing.T) {
	rawDB(t)
	tests := []struct {
		name    string
		props   map[string]string
		wantErr string
	}{
		{"no connection string", map[string]string{}, "connectionString is required"},
		{"unreachable server names the host", map[string]string{"connectionString": "root:@tcp(127.0.0.1:1)/", "schemaName": schema, "timeoutInSeconds": "2"}, "127.0.0.1:1"},
		{"not a DSN, password kept secret", map[string]string{"connectionString": "root:s3cret@tcp(127.0.0.1:3306"}, "connectionString"},
		{"bad table name", map[string]string{"connectionString": connStr, "tableName": "state; DROP TABLE x"}, "tableName"},
		{"bad schema name", map[string]string{"connectionString": connStr, "schemaName": "a-b"}, "schemaName"},
		{"bad metadata table name", map[string]string{"connectionString": connStr, "metadataTableName": "a b"}, "metadataTableName"},
		{"bad timeout", map[string]string{"connectionString": connStr, "timeoutInSeconds": "soon"}, "timeoutInSeconds"},
		{"bad cleanup interval", map[string]string{"connectionString": connStr, "cleanupIntervalInSeconds": "often"}, "cleanupIntervalInSeconds"},
		{"a key twice in different case", map[string]string{"connectionString": "root:@tcp(127.0.0.1:1)/", "TimeoutInSeconds": "2", "timeoutInSeconds": "3"}, "same key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryOpen(t, tt.props)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("init error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("init error shows the password: %v", err)
			}
		})
	}
}

// TestDaprLayout checks the table and that rows written the way daprd
// writes them read back, and the other way round.
func TestDaprLayout(t *testing.T) {
	db := rawDB(t)
	table, meta := tables(t, db)
	s := open(t, props(table, meta))
	ctx := t.Context()

	type column struct{ Name, Type, Nullable string }
	rows, err := db.QueryContext(ctx, `SELECT column_name, column_type, is_nullable FROM information_schema.columns
		WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position`, schema, table)
	if err != nil {
		t.Fatal(err)
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.Type, &c.Nullable); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	want := []column{
		{"id", "varchar(255)", "NO"},
		{"value", "longtext", "NO"}, // MariaDB's JSON
		{"isbinary", "tinyint(1)", "NO"},
		{"insertDate", "timestamp", "NO"},
		{"updateDate", "timestamp", "NO"},
		{"eTag", "varchar(36)", "NO"},
		{"expiredate", "timestamp", "YES"},
	}
	if diff := cmp.Diff(want, cols); diff != "" {
		t.Fatalf("state table columns (-want +got):\n%s", diff)
	}

	// Rows as daprd writes them.
	const etag = "5b2c3f0e-8d1a-4c44-9a52-0d8f3e6f2a11"
	for _, q := range []string{
		`INSERT INTO ` + table + ` (id, value, isbinary, eTag) VALUES ('app||json', '{"n":1}', 0, '` + etag + `')`,
		`INSERT INTO ` + table + ` (id, value, isbinary, eTag) VALUES ('app||bin', '"AAH/"', 1, '` + etag + `')`,
		`INSERT INTO ` + table + ` (id, value, isbinary, eTag, expiredate) VALUES ('app||live', '1', 0, '` + etag + `', CURRENT_TIMESTAMP + INTERVAL 60 SECOND)`,
		`INSERT INTO ` + table + ` (id, value, isbinary, eTag, expiredate) VALUES ('app||gone', '1', 0, '` + etag + `', CURRENT_TIMESTAMP - INTERVAL 1 SECOND)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for key, want := range map[string]string{"app||json": `{"n":1}`, "app||bin": "\x00\x01\xff", "app||live": "1"} {
		resp, err := s.Get(ctx, &state.GetRequest{Key: key})
		if err != nil || string(resp.Data) != want || resp.ETag == nil || *resp.ETag != etag {
			t.Fatalf("get %s = %q etag %v (%v), want %q etag %s", key, resp.Data, resp.ETag, err, want, etag)
		}
	}
	live, _ := s.Get(ctx, &state.GetRequest{Key: "app||live"})
	if exp, err := time.Parse(time.RFC3339, live.Metadata["ttlExpireTime"]); err != nil || time.Until(exp) < 30*time.Second || time.Until(exp) > 90*time.Second {
		t.Fatalf("ttlExpireTime = %q (%v), want about a minute ahead", live.Metadata["ttlExpireTime"], err)
	}
	if resp, _ := s.Get(ctx, &state.GetRequest{Key: "app||gone"}); resp.Data != nil {
		t.Fatalf("expired row is visible: %q", resp.Data)
	}
	if err := s.Set(ctx, &state.SetRequest{Key: "app||json", Value: []byte(`{"n":2}`), ETag: new(etag)}); err != nil {
		t.Fatalf("set with daprd's etag: %v", err)
	}

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
	rows, err = db.QueryContext(ctx, `SELECT id, value, isbinary,
		expiredate BETWEEN CURRENT_TIMESTAMP + INTERVAL 59 SECOND AND CURRENT_TIMESTAMP + INTERVAL 61 SECOND
		FROM `+table+` WHERE id IN ('app||text', 'app||raw')`)
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
		"app||text": {Value: `{"b":1,"a":"x"}`, Expires: true},
		"app||raw":  {Value: `"/wA="`, IsBinary: true, Expires: true},
	}
	if diff := cmp.Diff(wantRows, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}

// TestCleanupDeletesExpiredRows lets the cleanup loop run often and waits
// for the expired row to leave the table (reads hide it before that).
func TestCleanupDeletesExpiredRows(t *testing.T) {
	db := rawDB(t)
	table, meta := tables(t, db)
	p := props(table, meta)
	p["cleanupIntervalInSeconds"] = "1"
	s := open(t, p)
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
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE id = 'short'`).Scan(&n); err != nil {
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
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE id = 'long'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row without ttl: count %d, %v", n, err)
	}
	var last string
	if err := db.QueryRowContext(ctx, `SELECT value FROM `+meta+` WHERE id = 'last-cleanup'`).Scan(&last); err != nil {
		t.Fatalf("last-cleanup not recorded: %v", err)
	}
}
