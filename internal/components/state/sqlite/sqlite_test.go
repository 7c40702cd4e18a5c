package sqlite_test

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/components/state/sqlite"
)

// open initialises a store from the registry, as a host would, and closes
// it when the test ends.
func open(t testing.TB, baseDir string, props map[string]string) *sqlite.Store {
	t.Helper()
	s, err := tryOpen(t, baseDir, props)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return s
}

func tryOpen(t testing.TB, baseDir string, props map[string]string) (*sqlite.Store, error) {
	t.Helper()
	info, err := components.Lookup(sqlite.Type, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	s, ok := info.New().(*sqlite.Store)
	if !ok {
		t.Fatalf("%s does not build a *sqlite.Store", sqlite.Type)
	}
	md := components.Metadata{Name: "statestore", Type: sqlite.Type, Version: "v1", Properties: props, BaseDir: baseDir}
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

func TestConformance(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
	}{
		{"file with WAL", map[string]string{"connectionString": "state.db"}},
		{"in memory", map[string]string{"connectionString": ":memory:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformance.Run(t, func(t *testing.T) state.Store { return open(t, t.TempDir(), tt.props) })
		})
	}
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		props   map[string]string
		wantErr string
	}{
		{"no connection string", map[string]string{}, "connectionString is required"},
		{"bad table name", map[string]string{"connectionString": ":memory:", "tableName": "state; DROP TABLE x"}, "tableName"},
		{"bad metadata table name", map[string]string{"connectionString": ":memory:", "metadataTableName": "a-b"}, "metadataTableName"},
		{"bad timeout", map[string]string{"connectionString": ":memory:", "timeout": "soon"}, "timeout"},
		{"zero timeout", map[string]string{"connectionString": ":memory:", "timeout": "0"}, "must be positive"},
		{"bad busy timeout", map[string]string{"connectionString": ":memory:", "busyTimeout": "x"}, "busyTimeout"},
		{"bad disableWAL", map[string]string{"connectionString": ":memory:", "disableWAL": "maybe"}, "disableWAL"},
		{"journal mode in the connection string", map[string]string{"connectionString": "db.sqlite?_pragma=journal_mode(DELETE)"}, "disableWAL"},
		{"busy timeout in the connection string", map[string]string{"connectionString": "db.sqlite?_pragma=busy_timeout(10)"}, "busyTimeout"},
		{"remote host", map[string]string{"connectionString": "file://server/share/db.sqlite"}, "host"},
		{"directory is a file", map[string]string{"connectionString": filepath.Join(blocker, "state.db")}, blocker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryOpen(t, dir, tt.props)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("init error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConnectionStrings checks where each form of connectionString puts
// the database file.
func TestConnectionStrings(t *testing.T) {
	base := t.TempDir()
	abs := filepath.Join(t.TempDir(), "abs.db")
	tests := []struct {
		name     string
		conn     string
		wantFile string
	}{
		{"relative path", "sub/state.db", filepath.Join(base, "sub", "state.db")},
		{"relative file URI", "file:rel.db?mode=rwc", filepath.Join(base, "rel.db")},
		{"absolute path", abs, abs},
		{"absolute file URI", "file://" + abs + ".uri", abs + ".uri"},
		{"name with URI characters", "we%ird#name.db", filepath.Join(base, "we%ird#name.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, base, map[string]string{"connectionString": tt.conn})
			if err := s.Set(t.Context(), &state.SetRequest{Key: "k", Value: []byte(`"v"`)}); err != nil {
				t.Fatalf("set: %v", err)
			}
			if _, err := os.Stat(tt.wantFile); err != nil {
				t.Fatalf("database file: %v", err)
			}
		})
	}
}

func TestJournalMode(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"default", map[string]string{"connectionString": "state.db"}, "wal"},
		{"wal disabled", map[string]string{"connectionString": "state.db", "disableWAL": "true"}, "delete"},
		{"wal disabled in another of Dapr's forms", map[string]string{"connectionString": "state.db", "DisableWal": "on"}, "delete"},
		{"wal kept in another of Dapr's forms", map[string]string{"connectionString": "state.db", "disableWAL": "no"}, "wal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			open(t, dir, tt.props)
			var mode string
			if err := rawDB(t, filepath.Join(dir, "state.db")).QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if mode != tt.want {
				t.Fatalf("journal_mode = %q, want %q", mode, tt.want)
			}
		})
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestDaprSchema checks that the table is Dapr's, that rows written the way
// Dapr's store writes them read back, and that cove's rows are what Dapr
// expects.
func TestDaprSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, map[string]string{"connectionString": "state.db"})
	db := rawDB(t, filepath.Join(dir, "state.db"))
	ctx := t.Context()

	type column struct {
		Name, Type string
		NotNull    bool
		PK         bool
	}
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info('state') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &c.PK); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	want := []column{
		{"key", "TEXT", true, true},
		{"value", "TEXT", true, false},
		{"is_binary", "BOOLEAN", true, false},
		{"etag", "TEXT", true, false},
		{"expiration_time", "TIMESTAMP", false, false},
		{"update_time", "TIMESTAMP", true, false},
	}
	if diff := cmp.Diff(want, cols); diff != "" {
		t.Fatalf("state table columns (-want +got):\n%s", diff)
	}
	var level string
	if err := db.QueryRowContext(ctx, `SELECT value FROM metadata WHERE key = 'migrations'`).Scan(&level); err != nil || level != "1" {
		t.Fatalf("migration level = %q, %v; want 1", level, err)
	}

	// Rows as Dapr writes them: JSON text, base64 binary, CURRENT_TIMESTAMP
	// based expiry.
	const etag = "5b2c3f0e-8d1a-4c44-9a52-0d8f3e6f2a11"
	for _, q := range []string{
		`INSERT INTO state (key, value, is_binary, etag, update_time) VALUES ('app||json', '{"n":1}', 0, '` + etag + `', CURRENT_TIMESTAMP)`,
		`INSERT INTO state (key, value, is_binary, etag, update_time) VALUES ('app||bin', 'AAH/', 1, '` + etag + `', CURRENT_TIMESTAMP)`,
		`INSERT INTO state (key, value, is_binary, etag, expiration_time, update_time) VALUES ('app||live', '1', 0, '` + etag + `', DATETIME(CURRENT_TIMESTAMP, '+60 seconds'), CURRENT_TIMESTAMP)`,
		`INSERT INTO state (key, value, is_binary, etag, expiration_time, update_time) VALUES ('app||gone', '1', 0, '` + etag + `', DATETIME(CURRENT_TIMESTAMP, '-1 seconds'), CURRENT_TIMESTAMP)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for key, want := range map[string]string{"app||json": `{"n":1}`, "app||bin": "\x00\x01\xff", "app||live": "1"} {
		resp, err := s.Get(ctx, &state.GetRequest{Key: key})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if string(resp.Data) != want || resp.ETag == nil || *resp.ETag != etag {
			t.Fatalf("get %s = %q etag %v, want %q etag %s", key, resp.Data, resp.ETag, want, etag)
		}
	}
	live, _ := s.Get(ctx, &state.GetRequest{Key: "app||live"})
	if exp, err := time.Parse(time.RFC3339, live.Metadata["ttlExpireTime"]); err != nil || time.Until(exp) < 30*time.Second {
		t.Fatalf("ttlExpireTime = %q (%v), want about a minute ahead", live.Metadata["ttlExpireTime"], err)
	}
	if resp, _ := s.Get(ctx, &state.GetRequest{Key: "app||gone"}); resp.Data != nil {
		t.Fatalf("row expired by CURRENT_TIMESTAMP is visible: %q", resp.Data)
	}
	// A conditional write with Dapr's ETag works.
	if err := s.Set(ctx, &state.SetRequest{Key: "app||json", Value: []byte(`{"n":2}`), ETag: new(etag)}); err != nil {
		t.Fatalf("set with the stored etag: %v", err)
	}

	// cove's rows: JSON as text, other bytes as base64, a UUID ETag.
	for key, v := range map[string][]byte{"app||text": []byte(`"hi"`), "app||raw": {0xff, 0x00}} {
		if err := s.Set(ctx, &state.SetRequest{Key: key, Value: v, Metadata: map[string]string{"ttlInSeconds": "60"}}); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
	}
	type row struct {
		Value, ETag string
		IsBinary    bool
		Expires     bool
	}
	got := map[string]row{}
	rows, err = db.QueryContext(ctx, `SELECT key, value, is_binary, etag,
		expiration_time > CURRENT_TIMESTAMP AND expiration_time < DATETIME(CURRENT_TIMESTAMP, '+61 seconds')
		FROM state WHERE key IN ('app||text', 'app||raw')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.Value, &r.IsBinary, &r.ETag, &r.Expires); err != nil {
			t.Fatal(err)
		}
		if len(r.ETag) != 36 {
			t.Errorf("%s: etag %q is not a UUID", k, r.ETag)
		}
		r.ETag = ""
		got[k] = r
	}
	wantRows := map[string]row{
		"app||text": {Value: `"hi"`, IsBinary: false, Expires: true},
		"app||raw":  {Value: "/wA=", IsBinary: true, Expires: true},
	}
	if diff := cmp.Diff(wantRows, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	props := map[string]string{"connectionString": "state.db"}
	s := open(t, dir, props)
	if err := s.Set(t.Context(), &state.SetRequest{Key: "k", Value: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := open(t, dir, props).Get(t.Context(), &state.GetRequest{Key: "k"})
	if err != nil || string(resp.Data) != "kept" {
		t.Fatalf("after reopening: %q, %v", resp.Data, err)
	}
}

// TestCleanupDeletesExpiredRows lets the cleanup loop run often and waits
// for the expired row to leave the table (reads hide it before that).
func TestCleanupDeletesExpiredRows(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, map[string]string{"connectionString": "state.db", "cleanupInterval": "50ms"})
	ctx := t.Context()
	if err := s.Set(ctx, &state.SetRequest{Key: "short", Value: []byte("1"), Metadata: map[string]string{"ttlInSeconds": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, &state.SetRequest{Key: "long", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, filepath.Join(dir, "state.db"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM state WHERE key = 'short'`).Scan(&n); err != nil {
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
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM state WHERE key = 'long'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row without ttl: count %d, %v", n, err)
	}
	var last string
	if err := db.QueryRowContext(ctx, `SELECT value FROM metadata WHERE key = 'last-cleanup'`).Scan(&last); err != nil {
		t.Fatalf("last-cleanup not recorded: %v", err)
	}
}

// TestStoresSharingAFile runs two stores on one file, as two sidecars do,
// writing at once: busy_timeout and the single writer per store must keep
// every write from failing with SQLITE_BUSY.
func TestStoresSharingAFile(t *testing.T) {
	dir := t.TempDir()
	props := map[string]string{"connectionString": "shared.db"}
	stores := []*sqlite.Store{open(t, dir, props), open(t, dir, props)}
	const goroutines, writes = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*writes)
	for g := range goroutines {
		s := stores[g%2]
		wg.Go(func() {
			for i := range writes {
				key := fmt.Sprintf("g%d-%d", g, i)
				if err := s.Set(t.Context(), &state.SetRequest{Key: key, Value: []byte(strconv.Itoa(i))}); err != nil {
					errs <- err
					return
				}
				tx := []state.Operation{{Set: &state.SetRequest{Key: key + "-tx", Value: []byte("t")}}, {Delete: &state.DeleteRequest{Key: key}}}
				if err := s.Multi(t.Context(), &state.TransactionRequest{Operations: tx}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("write: %v", err)
	}
	// Each store sees the other's writes.
	for g := range goroutines {
		resp, err := stores[(g+1)%2].Get(t.Context(), &state.GetRequest{Key: fmt.Sprintf("g%d-%d-tx", g, writes-1)})
		if err != nil || string(resp.Data) != "t" {
			t.Fatalf("goroutine %d's last write: %q, %v", g, resp.Data, err)
		}
	}
}

const crashEnv = "COVE_SQLITE_CRASH_DB"

// TestAcknowledgedWritesSurviveKill runs a writer in a child process, kills
// it with SIGKILL part-way, and checks that every write the child reported
// as done is in the database.
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestAcknowledgedWritesSurviveKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+filepath.Join(dir, "crash.db"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
			if acked >= 50 {
				break
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if acked < 50 {
		t.Fatalf("child acknowledged only %d writes before it stopped", acked)
	}
	s := open(t, dir, map[string]string{"connectionString": "crash.db"})
	for i := 0; i <= acked; i++ {
		resp, err := s.Get(t.Context(), &state.GetRequest{Key: "k" + strconv.Itoa(i)})
		if err != nil || string(resp.Data) != strconv.Itoa(i) {
			t.Fatalf("acknowledged write %d after kill: %q, %v", i, resp.Data, err)
		}
	}
}

// crashChild writes keys one after another, printing each acknowledgement,
// until it is killed.
func crashChild(t *testing.T, path string) {
	s := open(t, filepath.Dir(path), map[string]string{"connectionString": filepath.Base(path)})
	for i := 0; ; i++ {
		if err := s.Set(t.Context(), &state.SetRequest{Key: "k" + strconv.Itoa(i), Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(os.Stdout, "acked %d\n", i); err != nil {
			t.Fatal(err)
		}
		if i > 100000 {
			t.Fatal(errors.New("parent never killed the writer"))
		}
	}
}

// The database file and its WAL files are readable by their owner only,
// like the environment CA's key.
func TestDatabaseFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, map[string]string{"connectionString": "state/state.db"})
	if err := s.Set(t.Context(), &state.SetRequest{Key: "k", Value: []byte("secret")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"state.db", "state.db-wal", "state.db-shm"} {
		st, err := os.Stat(filepath.Join(dir, "state", name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %o, want 600", name, perm)
		}
	}
}
