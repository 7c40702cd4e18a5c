package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Cleaner deletes expired rows in the background, once per interval.
type Cleaner struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartCleaner calls clean every interval until Stop. clean returns how
// many rows it deleted; its errors are logged, not fatal: the next
// interval tries again.
func StartCleaner(interval time.Duration, clean func() (int64, error), log *slog.Logger) *Cleaner {
	c := &Cleaner{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				n, err := clean()
				if err != nil {
					log.Warn("deleting expired state failed", "err", err)
				} else if n > 0 {
					log.Debug("deleted expired state", "rows", n)
				}
			}
		}
	}()
	return c
}

// Stop ends the loop and waits for a cleanup in progress. It may be called
// on a nil Cleaner (no cleanup configured) and more than once.
func (c *Cleaner) Stop() {
	if c == nil {
		return
	}
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// Statement is one SQL statement and its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// ClaimAndDelete runs a cleanup in one transaction of db: claim records
// that this store cleans now and affects no row when a store sharing the
// database already did within the interval; only when it affected a row
// does del run. It returns how many rows del deleted.
func ClaimAndDelete(ctx context.Context, db *sql.DB, claim, del Statement) (int64, error) {
	var n int64
	err := InTx(ctx, db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, claim.SQL, claim.Args...)
		if err != nil {
			return fmt.Errorf("claim cleanup: %w", err)
		}
		if claimed, err := res.RowsAffected(); err != nil || claimed == 0 {
			return err
		}
		if res, err = tx.ExecContext(ctx, del.SQL, del.Args...); err != nil {
			return fmt.Errorf("delete expired rows: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// InTx runs fn in a transaction of db, committed when fn returns nil and
// rolled back otherwise.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}
