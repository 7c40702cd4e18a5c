package mysql

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlstore"
)

// Type is the component type this package registers.
const Type = "state.mysql"

// maxKeyLength is the id column's size in Dapr's layout. Longer keys are
// refused rather than left to the server, which could truncate them into
// another key outside strict mode.
const maxKeyLength = 255

// MySQL error numbers a single-statement write retries on: another
// writer's lock made the server give up on this one.
const (
	errLockDeadlock = 1213
	errLockWait     = 1205
)

// maxAttempts bounds the retries of a write that lost a deadlock.
const maxAttempts = 5

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.Transactional = (*Store)(nil)
)

// Store is the MySQL / MariaDB state store.
type Store struct {
	log   *slog.Logger
	cfg   settings
	db    *sql.DB
	sql   statements
	stmts prepared

	cleaner   *sqlstore.Cleaner
	closeOnce sync.Once
	closeErr  error
}

// statements hold the table name; arguments are in the order set and
// delete pass them.
type statements struct {
	get, upsert, insertNew, updateIfETag, del, delIfETag string
}

// prepared are the statements prepared once: unprepared, the driver
// prepares and closes each statement per call, two extra round trips.
type prepared struct {
	get, upsert, insertNew, updateIfETag, del, delIfETag *sql.Stmt
}

func (p prepared) all() []*sql.Stmt {
	return []*sql.Stmt{p.get, p.upsert, p.insertNew, p.updateIfETag, p.del, p.delIfETag}
}

// New returns an uninitialised store.
func New() *Store { return &Store{} }

// Init connects, creates the schema and tables if missing and starts the
// cleanup loop. It fails at once, naming the server, when it cannot be
// reached.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type)
	cfg, err := parseSettings(md)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	s.cfg = cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := s.open(ctx); err != nil {
		if s.db != nil {
			_ = s.db.Close()
			s.db = nil
		}
		return fmt.Errorf("%s %q: schema %s at %s: %w", Type, md.Name, cfg.dsn.DBName, cfg.dsn.Addr, err)
	}
	if cfg.cleanupInterval > 0 {
		s.cleaner = sqlstore.StartCleaner(s.cfg.cleanupInterval, s.cleanup, s.log)
	}
	s.log.Debug("state store ready", "address", cfg.dsn.Addr, "schema", cfg.dsn.DBName, "table", cfg.tableName)
	return nil
}

func (s *Store) open(ctx context.Context) error {
	// The schema may not exist yet: connect without one to create it.
	noSchema := s.cfg.dsn.Clone()
	noSchema.DBName = ""
	boot, err := sql.Open("mysql", noSchema.FormatDSN())
	if err != nil {
		return err
	}
	defer func() { _ = boot.Close() }()
	if err := boot.PingContext(ctx); err != nil {
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	if _, err := boot.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+s.cfg.dsn.DBName); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if s.db, err = sql.Open("mysql", s.cfg.dsn.FormatDSN()); err != nil {
		return err
	}
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	t := s.cfg.tableName
	// Dapr's layout; id is compared byte for byte (utf8mb4_bin), so keys
	// differing only in case or accents stay apart, which the server's
	// default collation would not do.
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
		id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
		value JSON NOT NULL,
		isbinary BOOLEAN NOT NULL,
		insertDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
		updateDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
		eTag VARCHAR(36) NOT NULL,
		expiredate TIMESTAMP NULL,
		INDEX expiredate_idx(expiredate))`); err != nil {
		return fmt.Errorf("create table %s: %w", t, err)
	}
	// Tables from before Dapr 1.11 lack expiredate.
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = ? AND table_name = ? AND column_name = 'expiredate'`, s.cfg.dsn.DBName, t).Scan(&n); err != nil {
		return fmt.Errorf("inspect table %s: %w", t, err)
	}
	if n == 0 {
		for _, q := range []string{
			`ALTER TABLE ` + t + ` ADD COLUMN expiredate TIMESTAMP NULL`,
			`CREATE INDEX expiredate_idx ON ` + t + ` (expiredate)`,
		} {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("add expiredate to %s: %w", t, err)
			}
		}
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.cfg.metadataTableName+` (
		id VARCHAR(255) NOT NULL PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create table %s: %w", s.cfg.metadataTableName, err)
	}

	const live = `(expiredate IS NULL OR expiredate > CURRENT_TIMESTAMP)`
	// The expiry is rounded up to a whole second, the column's precision,
	// so a key lives at least its TTL. The TTL argument is NULL for none.
	const expiry = `FROM_UNIXTIME(CEIL(UNIX_TIMESTAMP(NOW(6)) + ?))`
	insert := `INSERT INTO ` + t + ` (id, value, isbinary, eTag, expiredate) VALUES (?, ?, ?, ?, ` + expiry + `)`
	s.sql = statements{
		get: `SELECT value, isbinary, eTag, expiredate FROM ` + t + ` WHERE id = ? AND ` + live,
		upsert: insert + ` ON DUPLICATE KEY UPDATE value = VALUES(value), isbinary = VALUES(isbinary),
			eTag = VALUES(eTag), expiredate = VALUES(expiredate)`,
		// First-write replaces only a row that has expired but is not
		// cleaned up yet. Assignments run left to right, so expiredate,
		// which the conditions read, changes last.
		insertNew: insert + ` ON DUPLICATE KEY UPDATE
			value = IF(NOT ` + live + `, VALUES(value), value),
			isbinary = IF(NOT ` + live + `, VALUES(isbinary), isbinary),
			eTag = IF(NOT ` + live + `, VALUES(eTag), eTag),
			expiredate = IF(NOT ` + live + `, VALUES(expiredate), expiredate)`,
		updateIfETag: `UPDATE ` + t + ` SET value = ?, isbinary = ?, eTag = ?, expiredate = ` + expiry + `
			WHERE id = ? AND eTag = ? AND ` + live,
		del:       `DELETE FROM ` + t + ` WHERE id = ?`,
		delIfETag: `DELETE FROM ` + t + ` WHERE id = ? AND eTag = ? AND ` + live,
	}
	for _, p := range []struct {
		dst  **sql.Stmt
		text string
	}{
		{&s.stmts.get, s.sql.get}, {&s.stmts.upsert, s.sql.upsert}, {&s.stmts.insertNew, s.sql.insertNew},
		{&s.stmts.updateIfETag, s.sql.updateIfETag}, {&s.stmts.del, s.sql.del}, {&s.stmts.delIfETag, s.sql.delIfETag},
	} {
		if *p.dst, err = s.db.PrepareContext(ctx, p.text); err != nil {
			return fmt.Errorf("prepare %q: %w", p.text, err)
		}
	}
	return nil
}

// Features reports ETags, transactions and TTLs.
func (s *Store) Features() []state.Feature {
	return []state.Feature{state.FeatureETag, state.FeatureTransactional, state.FeatureTTL}
}

func (s *Store) ready() error {
	if s.db == nil {
		return errors.New("mysql state store is not initialised")
	}
	return nil
}

// Get reads one key; an expired row reads as missing.
func (s *Store) Get(ctx context.Context, req *state.GetRequest) (*state.GetResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	var (
		value    []byte
		isBinary bool
		etag     string
		expires  sql.NullTime
	)
	err := s.stmts.get.QueryRowContext(ctx, req.Key).Scan(&value, &isBinary, &etag, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return &state.GetResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", req.Key, err)
	}
	if isBinary {
		var b64 string
		if err := json.Unmarshal(value, &b64); err != nil {
			return nil, fmt.Errorf("get %q: binary value is not a JSON string: %w", req.Key, err)
		}
		if value, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, fmt.Errorf("get %q: decode binary value: %w", req.Key, err)
		}
	}
	if value == nil {
		value = []byte{}
	}
	resp := &state.GetResponse{Data: value, ETag: &etag}
	if expires.Valid {
		resp.Metadata = map[string]string{"ttlExpireTime": expires.Time.UTC().Format(time.RFC3339)}
	}
	return resp, nil
}

// write is a validated set request, encoded for the table.
type write struct {
	key        string
	value      string
	isBinary   bool
	etag       string // condition; "" for none
	firstWrite bool
	ttl        any // whole seconds, or nil for no expiry
}

func checkKey(key string) error {
	if utf8.RuneCountInString(key) > maxKeyLength {
		return fmt.Errorf("key %.40q... has %d characters; the state table holds at most %d", key, utf8.RuneCountInString(key), maxKeyLength)
	}
	return nil
}

func checkETag(etag *string) (string, error) {
	if etag == nil || *etag == "" {
		return "", nil
	}
	if _, err := uuid.Parse(*etag); err != nil {
		return "", fmt.Errorf("%w: %q is not a UUID", state.ErrETagInvalid, *etag)
	}
	return *etag, nil
}

func prepareSet(req *state.SetRequest) (*write, error) {
	if err := checkKey(req.Key); err != nil {
		return nil, err
	}
	etag, err := checkETag(req.ETag)
	if err != nil {
		return nil, err
	}
	ttl, err := state.ParseTTL(req.Metadata)
	if err != nil {
		return nil, err
	}
	w := &write{key: req.Key, etag: etag, firstWrite: req.Options.Concurrency == state.FirstWrite}
	if ttl > 0 {
		w.ttl = int64(ttl / time.Second)
	}
	// JSON is stored as is, as Dapr stores values that arrive as JSON;
	// anything else as a base64 JSON string with isbinary set.
	if json.Valid(req.Value) && utf8.Valid(req.Value) {
		w.value = string(req.Value)
	} else {
		quoted, _ := json.Marshal(base64.StdEncoding.EncodeToString(req.Value))
		w.value, w.isBinary = string(quoted), true
	}
	return w, nil
}

// stmt returns st as is, or bound to tx when there is one.
func stmt(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if tx != nil {
		return tx.StmtContext(ctx, st)
	}
	return st
}

// Set writes one key.
func (s *Store) Set(ctx context.Context, req *state.SetRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	w, err := prepareSet(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return retryLocks(func() error { return s.set(ctx, nil, w) })
}

func (s *Store) set(ctx context.Context, tx *sql.Tx, w *write) error {
	eTag := uuid.NewString()
	var (
		res sql.Result
		err error
	)
	switch {
	case w.etag != "":
		res, err = stmt(ctx, tx, s.stmts.updateIfETag).ExecContext(ctx, w.value, w.isBinary, eTag, w.ttl, w.key, w.etag)
	case w.firstWrite:
		res, err = stmt(ctx, tx, s.stmts.insertNew).ExecContext(ctx, w.key, w.value, w.isBinary, eTag, w.ttl)
	default:
		_, err = stmt(ctx, tx, s.stmts.upsert).ExecContext(ctx, w.key, w.value, w.isBinary, eTag, w.ttl)
		if err != nil {
			return fmt.Errorf("set %q: %w", w.key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("set %q: %w", w.key, err)
	}
	// Without CLIENT_FOUND_ROWS, a duplicate key left as it was counts 0
	// rows: the first-write found a live row.
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set %q: %w", w.key, err)
	} else if n == 0 {
		if w.etag != "" {
			return fmt.Errorf("%w: key %q", state.ErrETagMismatch, w.key)
		}
		return fmt.Errorf("%w: key %q already exists and no etag was given (first-write)", state.ErrETagMismatch, w.key)
	}
	return nil
}

// Delete removes one key; with an ETag, only if it matches.
func (s *Store) Delete(ctx context.Context, req *state.DeleteRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	etag, err := checkETag(req.ETag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return retryLocks(func() error { return s.delete(ctx, nil, req.Key, etag) })
}

func (s *Store) delete(ctx context.Context, tx *sql.Tx, key, etag string) error {
	st, args := s.stmts.del, []any{key}
	if etag != "" {
		st, args = s.stmts.delIfETag, append(args, etag)
	}
	res, err := stmt(ctx, tx, st).ExecContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if etag == "" {
		return nil
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	} else if n == 0 {
		return fmt.Errorf("%w: key %q", state.ErrETagMismatch, key)
	}
	return nil
}

// Multi applies the operations in one SQL transaction; the first failing
// operation rolls back the others. A transaction that loses a deadlock is
// run again from the start.
func (s *Store) Multi(ctx context.Context, req *state.TransactionRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	if len(req.Operations) == 0 {
		return nil
	}
	ops, err := sqlstore.PrepareOps(req.Operations, prepareSet, func(d *state.DeleteRequest) (string, error) { return checkETag(d.ETag) })
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return retryLocks(func() error {
		return sqlstore.InTx(ctx, s.db, func(tx *sql.Tx) error {
			return ops.Apply(
				func(w *write) error { return s.set(ctx, tx, w) },
				func(d *state.DeleteRequest, etag string) error { return s.delete(ctx, tx, d.Key, etag) })
		})
	})
}

// retryLocks runs fn again when the server aborted it over a lock, which
// concurrent inserts of one new key can cause in InnoDB.
func retryLocks(fn func() error) error {
	var err error
	for range maxAttempts {
		err = fn()
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != errLockDeadlock && me.Number != errLockWait {
			return err
		}
	}
	return err
}

// cleanup deletes expired rows unless a store sharing the database did so
// within the interval (the last-cleanup row says, as in Dapr), and returns
// how many it deleted.
func (s *Store) cleanup() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	return sqlstore.ClaimAndDelete(ctx, s.db,
		sqlstore.Statement{SQL: `INSERT INTO ` + s.cfg.metadataTableName + ` (id, value)
		VALUES ('last-cleanup', CURRENT_TIMESTAMP)
		ON DUPLICATE KEY UPDATE
		value = IF(CURRENT_TIMESTAMP >= DATE_ADD(value, INTERVAL ?*1000 MICROSECOND), CURRENT_TIMESTAMP, value)`,
			Args: []any{s.cfg.cleanupInterval.Milliseconds()}},
		sqlstore.Statement{SQL: `DELETE FROM ` + s.cfg.tableName + ` WHERE expiredate IS NOT NULL AND expiredate <= CURRENT_TIMESTAMP`})
}

// Close stops the cleanup loop and closes the database; closing again is a
// no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cleaner.Stop()
		var errs []error
		for _, st := range s.stmts.all() {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		if s.db != nil {
			errs = append(errs, s.db.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
