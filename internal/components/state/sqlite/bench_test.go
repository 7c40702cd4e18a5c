package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
)

// The benchmarks compare the store with the same work done through
// database/sql directly: the same driver, pragmas (WAL, synchronous NORMAL,
// busy_timeout) and table shape, and the bare statement an application
// would write by hand (a SELECT by key; an upsert with a fresh UUID ETag).
// Besides ns/op for the store they report raw-ns/op for the direct call
// and x-raw, the store's time as a multiple of it.

const benchValue = `{"orderId":42,"items":["apple","pear"],"total":12.5}`

func rawBenchDB(b *testing.B) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(2000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(b.Context(), `CREATE TABLE state (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL,
		is_binary BOOLEAN NOT NULL, etag TEXT NOT NULL, expiration_time TIMESTAMP DEFAULT NULL,
		update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkGet(b *testing.B) {
	s := open(b, b.TempDir(), map[string]string{"connectionString": "state.db"})
	if err := s.Set(b.Context(), &state.SetRequest{Key: "app||order", Value: []byte(benchValue)}); err != nil {
		b.Fatal(err)
	}
	db := rawBenchDB(b)
	if _, err := db.ExecContext(b.Context(), `INSERT INTO state (key, value, is_binary, etag) VALUES (?, ?, 0, ?)`,
		"app||order", benchValue, uuid.NewString()); err != nil {
		b.Fatal(err)
	}
	get, err := db.PrepareContext(b.Context(), `SELECT value, etag FROM state WHERE key = ?`)
	if err != nil {
		b.Fatal(err)
	}
	conformance.Compare(b,
		func(int) error {
			var v []byte
			var etag string
			return get.QueryRowContext(b.Context(), "app||order").Scan(&v, &etag)
		},
		func(int) error {
			_, err := s.Get(b.Context(), &state.GetRequest{Key: "app||order"})
			return err
		})
}

func BenchmarkSet(b *testing.B) {
	s := open(b, b.TempDir(), map[string]string{"connectionString": "state.db"})
	db := rawBenchDB(b)
	set, err := db.PrepareContext(b.Context(), `INSERT INTO state (key, value, is_binary, etag) VALUES (?, ?, 0, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag`)
	if err != nil {
		b.Fatal(err)
	}
	conformance.Compare(b,
		func(i int) error {
			_, err := set.ExecContext(b.Context(), "app||order-"+strconv.Itoa(i%100), benchValue, uuid.NewString())
			return err
		},
		func(i int) error {
			return s.Set(b.Context(), &state.SetRequest{Key: "app||order-" + strconv.Itoa(i%100), Value: []byte(benchValue)})
		})
}
