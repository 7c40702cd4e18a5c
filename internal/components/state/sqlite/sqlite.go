package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlstore"
)

// Type is the component type this package registers.
const Type = "state.sqlite"

// readers is the size of the read pool. WAL lets readers run beside the
// writer, so a few connections serve many sidecars' reads.
const readers = 4

// timeFormat is how times are stored: UTC, sortable as text, and a
// superset of SQLite's CURRENT_TIMESTAMP format that Dapr's store writes and
// compares against, so expiry works across both.
const timeFormat = "2006-01-02 15:04:05.000"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.Transactional = (*Store)(nil)
)

// Store is the SQLite state store.
//
// SQLite allows one writer at a time. Rather than let many connections
// contend for the lock (and sleep in busy handlers), all writes go through
// one connection, which database/sql hands to waiting goroutines in turn;
// reads use a separate pool and, with WAL, never wait for the writer.
// busy_timeout still covers other processes sharing the file.
type Store struct {
	log   *slog.Logger
	cfg   settings
	db    database
	write *sql.DB // exactly one connection
	read  *sql.DB // the same as write for an in-memory database
	stmts statements
	now   func() time.Time

	cleaner   *sqlstore.Cleaner
	closeOnce sync.Once
	closeErr  error
}

// statements are the prepared queries, with the table names filled in.
type statements struct {
	get, upsert, insertNew, updateIfETag, del, delIfETag *sql.Stmt
}

// New returns an uninitialised store.
func New() *Store { return &Store{now: time.Now} }

// Init opens the database, creates or migrates the schema and starts the
// cleanup loop.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type)
	cfg, err := parseSettings(md)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	db, err := resolveDatabase(cfg.connectionString, md.BaseDir)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	s.cfg, s.db = cfg, db
	if err := db.ensureDir(); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if err := s.open(ctx); err != nil {
		_ = s.closeDBs()
		s.read, s.write = nil, nil
		return fmt.Errorf("%s %q: open %s: %w", Type, md.Name, s.describe(), err)
	}
	if cfg.cleanupInterval > 0 {
		s.cleaner = sqlstore.StartCleaner(s.cfg.cleanupInterval, s.cleanup, s.log)
	}
	s.log.Debug("state store ready", "database", s.describe(), "table", cfg.tableName)
	return nil
}

func (s *Store) describe() string {
	if s.db.memory {
		return ":memory:"
	}
	return s.db.path
}

func (s *Store) open(ctx context.Context) error {
	var err error
	if s.write, err = sql.Open("sqlite", s.db.dsn(s.cfg, true)); err != nil {
		return err
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	s.write.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	// The writer connects first: it creates the file and switches it to
	// WAL before any reader opens it.
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if s.db.memory {
		s.read = s.write
	} else {
		if s.read, err = sql.Open("sqlite", s.db.dsn(s.cfg, false)); err != nil {
			return err
		}
		s.read.SetMaxOpenConns(readers)
		s.read.SetMaxIdleConns(readers)
		if err := s.read.PingContext(ctx); err != nil {
			return err
		}
	}
	return s.prepare(ctx)
}

// migrate brings the schema to the version Dapr's SQLite store uses: a
// metadata table holding the migration level and the state table.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.cfg.metadataTableName+` (
		key text NOT NULL PRIMARY KEY,
		value text NOT NULL)`); err != nil {
		return fmt.Errorf("create metadata table: %w", err)
	}
	var level string
	err = tx.QueryRowContext(ctx, `SELECT value FROM `+s.cfg.metadataTableName+` WHERE key = 'migrations'`).Scan(&level)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		level = "0"
	case err != nil:
		return fmt.Errorf("read migration level: %w", err)
	}
	n, err := strconv.Atoi(level)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid migration level %q in table %s", level, s.cfg.metadataTableName)
	}
	if n < 1 {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.cfg.tableName+` (
			key TEXT NOT NULL PRIMARY KEY,
			value TEXT NOT NULL,
			is_binary BOOLEAN NOT NULL,
			etag TEXT NOT NULL,
			expiration_time TIMESTAMP DEFAULT NULL,
			update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
			return fmt.Errorf("create state table: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `REPLACE INTO `+s.cfg.metadataTableName+` (key, value) VALUES ('migrations', '1')`); err != nil {
			return fmt.Errorf("record migration level: %w", err)
		}
	}
	return tx.Commit()
}

func (s *Store) prepare(ctx context.Context) error {
	t := s.cfg.tableName
	const live = `(expiration_time IS NULL OR expiration_time > ?)`
	cols := `(key, value, is_binary, etag, expiration_time, update_time) VALUES (?, ?, ?, ?, ?, ?)`
	set := `value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag,
		expiration_time = excluded.expiration_time, update_time = excluded.update_time`
	queries := []struct {
		dst  **sql.Stmt
		db   *sql.DB
		text string
	}{
		{&s.stmts.get, s.read, `SELECT value, is_binary, etag, strftime('%Y-%m-%dT%H:%M:%fZ', expiration_time)
			FROM ` + t + ` WHERE key = ? AND ` + live},
		{&s.stmts.upsert, s.write, `INSERT INTO ` + t + ` ` + cols + ` ON CONFLICT (key) DO UPDATE SET ` + set},
		// First-write: insert, or replace only a row that has expired but
		// not been cleaned up yet.
		{&s.stmts.insertNew, s.write, `INSERT INTO ` + t + ` ` + cols + ` ON CONFLICT (key) DO UPDATE SET ` + set + `
			WHERE ` + t + `.expiration_time IS NOT NULL AND ` + t + `.expiration_time <= ?`},
		{&s.stmts.updateIfETag, s.write, `UPDATE ` + t + ` SET value = ?, is_binary = ?, etag = ?, expiration_time = ?, update_time = ?
			WHERE key = ? AND etag = ? AND ` + live},
		{&s.stmts.del, s.write, `DELETE FROM ` + t + ` WHERE key = ?`},
		{&s.stmts.delIfETag, s.write, `DELETE FROM ` + t + ` WHERE key = ? AND etag = ? AND ` + live},
	}
	for _, q := range queries {
		st, err := q.db.PrepareContext(ctx, q.text)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q.text, err)
		}
		*q.dst = st
	}
	return nil
}

// Features reports ETags, transactions, TTLs and queries.
func (s *Store) Features() []state.Feature {
	return []state.Feature{state.FeatureETag, state.FeatureTransactional, state.FeatureTTL, state.FeatureQuery}
}

// Get reads one key; an expired row reads as missing.
func (s *Store) Get(ctx context.Context, req *state.GetRequest) (*state.GetResponse, error) {
	if s.read == nil {
		return nil, errors.New("sqlite state store is not initialised")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	var (
		value    []byte
		isBinary bool
		etag     string
		expires  sql.NullString
	)
	err := s.stmts.get.QueryRowContext(ctx, req.Key, s.now().UTC().Format(timeFormat)).Scan(&value, &isBinary, &etag, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return &state.GetResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", req.Key, err)
	}
	if isBinary {
		decoded := make([]byte, base64.StdEncoding.DecodedLen(len(value)))
		n, err := base64.StdEncoding.Decode(decoded, value)
		if err != nil {
			return nil, fmt.Errorf("get %q: decode binary value: %w", req.Key, err)
		}
		value = decoded[:n]
	} else if value == nil {
		value = []byte{}
	}
	resp := &state.GetResponse{Data: value, ETag: &etag}
	if expires.Valid {
		if t, err := time.Parse(time.RFC3339Nano, expires.String); err == nil {
			resp.Metadata = map[string]string{"ttlExpireTime": t.UTC().Format(time.RFC3339)}
		}
	}
	return resp, nil
}

// Set writes one key.
func (s *Store) Set(ctx context.Context, req *state.SetRequest) error {
	w, err := s.prepareSet(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return s.set(ctx, nil, w)
}

// Delete removes one key; with an ETag, only if it matches.
func (s *Store) Delete(ctx context.Context, req *state.DeleteRequest) error {
	if err := validETag(req.ETag); err != nil {
		return err
	}
	if s.write == nil {
		return errors.New("sqlite state store is not initialised")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return s.delete(ctx, nil, req)
}

// Multi applies the operations in one SQL transaction; the first failing
// operation rolls back the others.
func (s *Store) Multi(ctx context.Context, req *state.TransactionRequest) error {
	if len(req.Operations) == 0 {
		return nil
	}
	// Validate everything before taking the write lock.
	ops, err := sqlstore.PrepareOps(req.Operations, s.prepareSet, func(d *state.DeleteRequest) (string, error) {
		return "", validETag(d.ETag)
	})
	if err != nil {
		return err
	}
	if s.write == nil {
		return errors.New("sqlite state store is not initialised")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return sqlstore.InTx(ctx, s.write, func(tx *sql.Tx) error {
		return ops.Apply(
			func(w *write) error { return s.set(ctx, tx, w) },
			func(d *state.DeleteRequest, _ string) error { return s.delete(ctx, tx, d) })
	})
}

// write is a validated set request, encoded for the table.
type write struct {
	key        string
	value      string
	isBinary   bool
	etag       *string // condition; nil for none
	firstWrite bool
	ttl        time.Duration
}

func (s *Store) prepareSet(req *state.SetRequest) (*write, error) {
	if err := validETag(req.ETag); err != nil {
		return nil, err
	}
	ttl, err := state.ParseTTL(req.Metadata)
	if err != nil {
		return nil, err
	}
	w := &write{key: req.Key, firstWrite: req.Options.Concurrency == state.FirstWrite, ttl: ttl}
	if req.ETag != nil && *req.ETag != "" {
		w.etag = req.ETag
	}
	// JSON is stored as text, as Dapr stores values that arrive as JSON;
	// anything else is base64 with is_binary set.
	if json.Valid(req.Value) {
		w.value = string(req.Value)
	} else {
		w.value, w.isBinary = base64.StdEncoding.EncodeToString(req.Value), true
	}
	return w, nil
}

func (s *Store) set(ctx context.Context, tx *sql.Tx, w *write) error {
	if s.write == nil {
		return errors.New("sqlite state store is not initialised")
	}
	now := s.now().UTC()
	nowText := now.Format(timeFormat)
	var expires any // NULL
	if w.ttl > 0 {
		expires = now.Add(w.ttl).Format(timeFormat)
	}
	etag := uuid.NewString()
	stmt := func(st *sql.Stmt) *sql.Stmt {
		if tx != nil {
			return tx.StmtContext(ctx, st)
		}
		return st
	}
	var (
		res sql.Result
		err error
	)
	switch {
	case w.etag != nil:
		res, err = stmt(s.stmts.updateIfETag).ExecContext(ctx, w.value, w.isBinary, etag, expires, nowText, w.key, *w.etag, nowText)
	case w.firstWrite:
		res, err = stmt(s.stmts.insertNew).ExecContext(ctx, w.key, w.value, w.isBinary, etag, expires, nowText, nowText)
	default:
		_, err = stmt(s.stmts.upsert).ExecContext(ctx, w.key, w.value, w.isBinary, etag, expires, nowText)
		if err != nil {
			return fmt.Errorf("set %q: %w", w.key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("set %q: %w", w.key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set %q: %w", w.key, err)
	} else if n == 0 {
		if w.etag != nil {
			return fmt.Errorf("%w: key %q", state.ErrETagMismatch, w.key)
		}
		return fmt.Errorf("%w: key %q already exists and no etag was given (first-write)", state.ErrETagMismatch, w.key)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, tx *sql.Tx, req *state.DeleteRequest) error {
	st, args := s.stmts.del, []any{req.Key}
	conditional := req.ETag != nil && *req.ETag != ""
	if conditional {
		st, args = s.stmts.delIfETag, []any{req.Key, *req.ETag, s.now().UTC().Format(timeFormat)}
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("delete %q: %w", req.Key, err)
	}
	if !conditional {
		return nil
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete %q: %w", req.Key, err)
	} else if n == 0 {
		return fmt.Errorf("%w: key %q", state.ErrETagMismatch, req.Key)
	}
	return nil
}

// validETag accepts no ETag or a UUID, the form this store (and Dapr's)
// writes.
func validETag(etag *string) error {
	if etag == nil || *etag == "" {
		return nil
	}
	if _, err := uuid.Parse(*etag); err != nil {
		return fmt.Errorf("%w: %q is not a UUID", state.ErrETagInvalid, *etag)
	}
	return nil
}

// cleanup deletes expired rows if no store sharing the database did so
// within the interval, and returns how many it deleted.
func (s *Store) cleanup() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	now := s.now().UTC().Format(timeFormat)
	return sqlstore.ClaimAndDelete(ctx, s.write,
		sqlstore.Statement{SQL: `INSERT INTO ` + s.cfg.metadataTableName + ` (key, value) VALUES ('last-cleanup', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value
		WHERE (unixepoch(excluded.value) - unixepoch(value)) * 1000 >= ?`, Args: []any{now, s.cfg.cleanupInterval.Milliseconds()}},
		sqlstore.Statement{SQL: `DELETE FROM ` + s.cfg.tableName + `
		WHERE expiration_time IS NOT NULL AND expiration_time <= ?`, Args: []any{now}})
}

// Close stops the cleanup loop and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cleaner.Stop()
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.stmts.get, s.stmts.upsert, s.stmts.insertNew, s.stmts.updateIfETag, s.stmts.del, s.stmts.delIfETag} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.read != nil && s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	return errors.Join(errs...)
}
