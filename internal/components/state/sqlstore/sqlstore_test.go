package sqlstore_test

import (
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/cove-env/cove/internal/components/state/sqlstore"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, q := range []string{
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
		`CREATE TABLE state (key TEXT PRIMARY KEY, expired BOOLEAN NOT NULL)`,
		`INSERT INTO state VALUES ('a', 1), ('b', 1), ('c', 0)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestClaimAndDelete(t *testing.T) {
	db := openDB(t)
	// The claim wins when the recorded turn is older than now.
	claim := func(now int) sqlstore.Statement {
		return sqlstore.Statement{SQL: `INSERT INTO meta (key, value) VALUES ('last', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE excluded.value > value`, Args: []any{now}}
	}
	del := sqlstore.Statement{SQL: `DELETE FROM state WHERE expired`}
	tests := []struct {
		name string
		now  int
		want int64
	}{
		{name: "first claim deletes", now: 1, want: 2},
		{name: "same turn is claimed already", now: 1, want: 0},
		{name: "next turn deletes what expired since", now: 2, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := sqlstore.ClaimAndDelete(t.Context(), db, claim(tt.now), del)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("deleted %d rows, want %d", n, tt.want)
			}
		})
	}
	var left int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM state`).Scan(&left); err != nil || left != 1 {
		t.Errorf("rows left = %d (%v), want the unexpired one", left, err)
	}
}

func TestInTxRollsBack(t *testing.T) {
	db := openDB(t)
	boom := errors.New("boom")
	err := sqlstore.InTx(t.Context(), db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(t.Context(), `DELETE FROM state`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want fn's error", err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM state`).Scan(&n); err != nil || n != 3 {
		t.Errorf("rows = %d (%v) after a failed transaction, want all 3", n, err)
	}
	if err := sqlstore.InTx(t.Context(), db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `DELETE FROM state WHERE key = 'a'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM state`).Scan(&n); err != nil || n != 2 {
		t.Errorf("rows = %d (%v) after a committed delete, want 2", n, err)
	}
}

func TestCleanerRunsUntilStopped(t *testing.T) {
	var calls atomic.Int32
	c := sqlstore.StartCleaner(time.Millisecond, func() (int64, error) {
		calls.Add(1)
		return 1, nil
	}, slog.New(slog.DiscardHandler))
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("cleanup never ran twice")
		}
		time.Sleep(time.Millisecond)
	}
	c.Stop()
	c.Stop()
	after := calls.Load()
	time.Sleep(5 * time.Millisecond)
	if got := calls.Load(); got != after {
		t.Errorf("cleanup ran %d more times after Stop", got-after)
	}
	var none *sqlstore.Cleaner
	none.Stop() // no cleanup configured
}
