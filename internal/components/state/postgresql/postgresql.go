package postgresql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlstore"
)

// Type is the component type this package registers.
const Type = "state.postgresql"

func init() {
	components.Register(components.Info{Type: Type, Versions: []string{"v1", "v2"}, New: func() any { return New() }})
}

var (
	_ state.Store         = (*Store)(nil)
	_ state.Transactional = (*Store)(nil)
	_ state.Querier       = (*Store)(nil)
)

// Store is the PostgreSQL state store, in the layout of the component
// version it was initialised with.
type Store struct {
	log    *slog.Logger
	cfg    settings
	layout *layout
	pool   *pgxpool.Pool
	sql    statements

	cleaner   *sqlstore.Cleaner
	closeOnce sync.Once
}

// statements are the layout's statements with the table name filled in.
type statements struct {
	get, upsert, insertNew, updateIfETag, del, delIfETag string
}

// New returns an uninitialised store.
func New() *Store { return &Store{} }

// Init connects, creates or migrates the tables and starts the cleanup
// loop. It fails at once, naming the server, when PostgreSQL cannot be
// reached.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type, "version", md.Version)
	cfg, err := parseSettings(md)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	s.cfg = cfg
	s.layout = &v1
	if cfg.version == "v2" {
		s.layout = &v2
	}
	t := cfg.tableName
	s.sql = statements{
		get:          fmt.Sprintf(s.layout.get, t),
		upsert:       fmt.Sprintf(s.layout.upsert, t),
		insertNew:    fmt.Sprintf(s.layout.insertNew, t),
		updateIfETag: fmt.Sprintf(s.layout.updateIfETag, t),
		del:          fmt.Sprintf(s.layout.del, t),
		delIfETag:    fmt.Sprintf(s.layout.delIfETag, t),
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.pool)
	if err != nil {
		return fmt.Errorf("%s %q: connect to PostgreSQL at %s: %w", Type, md.Name, cfg.address(), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return fmt.Errorf("%s %q: cannot reach PostgreSQL at %s: %w", Type, md.Name, cfg.address(), err)
	}
	s.pool = pool
	if err := s.migrate(pingCtx); err != nil {
		pool.Close()
		s.pool = nil
		return fmt.Errorf("%s %q: prepare tables at %s: %w", Type, md.Name, cfg.address(), err)
	}
	if cfg.cleanupInterval > 0 {
		s.cleaner = sqlstore.StartCleaner(s.cfg.cleanupInterval, s.cleanup, s.log)
	}
	s.log.Debug("state store ready", "address", cfg.address(), "table", t)
	return nil
}

// migrate brings the tables to the layout's level the way Dapr does: the
// metadata table records the level, and a row lock on its "lock" row keeps
// two stores (cove's or daprd's) from migrating at once.
func (s *Store) migrate(ctx context.Context) error {
	meta := s.cfg.metadataTableName
	if s.cfg.schema != "" {
		if _, err := s.pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.cfg.schema); err != nil {
			return fmt.Errorf("create schema %s: %w", s.cfg.schema, err)
		}
	}
	// Creating a table concurrently can fail with a unique violation on
	// PostgreSQL's catalog; the other creator won, so try again.
	var err error
	for range 3 {
		_, err = s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+meta+` (key text NOT NULL PRIMARY KEY, value text NOT NULL)`)
		if !isUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create metadata table %s: %w", meta, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO `+meta+` (key, value) VALUES ('lock', 'lock') ON CONFLICT (key) DO NOTHING`); err != nil {
		return fmt.Errorf("create lock row in %s: %w", meta, err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var lock string
		if err := tx.QueryRow(ctx, `SELECT value FROM `+meta+` WHERE key = 'lock' FOR UPDATE`).Scan(&lock); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		key := s.migrationKey()
		var level string
		err := tx.QueryRow(ctx, `SELECT value FROM `+meta+` WHERE key = $1`, key).Scan(&level)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			level = "0"
		case err != nil:
			return fmt.Errorf("read migration level: %w", err)
		}
		n, err := strconv.Atoi(level)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid migration level %q under %s in %s", level, key, meta)
		}
		for i := n; i < len(s.layout.migrations); i++ {
			if _, err := tx.Exec(ctx, fmt.Sprintf(s.layout.migrations[i], s.cfg.tableName)); err != nil {
				return fmt.Errorf("migration %d of table %s: %w", i+1, s.cfg.tableName, err)
			}
		}
		if n < len(s.layout.migrations) {
			if _, err := tx.Exec(ctx, `INSERT INTO `+meta+` (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, strconv.Itoa(len(s.layout.migrations))); err != nil {
				return fmt.Errorf("record migration level: %w", err)
			}
		}
		return nil
	})
}

// migrationKey and cleanupKey are the metadata rows of this layout; v2
// suffixes them with the table prefix, as Dapr does, so several v2 tables
// can share one metadata table.
func (s *Store) migrationKey() string {
	if s.layout == &v2 {
		return s.layout.migrationKey + s.tablePrefix()
	}
	return s.layout.migrationKey
}

func (s *Store) cleanupKey() string {
	if s.layout == &v2 {
		return s.layout.cleanupKey + s.cfg.tableName
	}
	return s.layout.cleanupKey
}

func (s *Store) tablePrefix() string {
	t := s.cfg.tableName
	if _, table, ok := strings.Cut(t, "."); ok {
		t = table
	}
	return strings.TrimSuffix(t, "state")
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Features reports ETags, transactions and TTLs, and queries for v1, whose
// values are JSON.
func (s *Store) Features() []state.Feature {
	f := []state.Feature{state.FeatureETag, state.FeatureTransactional, state.FeatureTTL}
	if s.layout == &v1 {
		f = append(f, state.FeatureQuery)
	}
	return f
}

func (s *Store) ready() error {
	if s.pool == nil {
		return errors.New("postgresql state store is not initialised")
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
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
		expires  *time.Time
	)
	err := s.pool.QueryRow(ctx, s.sql.get, req.Key).Scan(&value, &isBinary, &etag, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return &state.GetResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", req.Key, err)
	}
	data, err := s.layout.decode(value, isBinary)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", req.Key, err)
	}
	if data == nil {
		data = []byte{}
	}
	resp := &state.GetResponse{Data: data, ETag: &etag}
	if expires != nil {
		resp.Metadata = map[string]string{"ttlExpireTime": expires.UTC().Format(time.RFC3339)}
	}
	return resp, nil
}

// write is a validated set request.
type write struct {
	key        string
	value      any
	isBinary   bool
	etag       string // "" for none
	firstWrite bool
	ttlSeconds int
}

func (s *Store) prepareSet(req *state.SetRequest) (*write, error) {
	w := &write{key: req.Key, firstWrite: req.Options.Concurrency == state.FirstWrite}
	if req.ETag != nil && *req.ETag != "" {
		etag, err := s.layout.checkETag(*req.ETag)
		if err != nil {
			return nil, err
		}
		w.etag = etag
	}
	ttl, err := state.ParseTTL(req.Metadata)
	if err != nil {
		return nil, err
	}
	w.ttlSeconds = int(ttl / time.Second)
	w.value, w.isBinary = s.layout.encode(req.Value)
	return w, nil
}

// Set writes one key.
func (s *Store) Set(ctx context.Context, req *state.SetRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	w, err := s.prepareSet(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return s.set(ctx, s.pool, w)
}

func (s *Store) set(ctx context.Context, q querier, w *write) error {
	args := []any{w.key, w.value}
	if s.layout.binaryColumn {
		args = append(args, w.isBinary)
	}
	args = append(args, w.ttlSeconds)
	stmt := s.sql.upsert
	switch {
	case w.etag != "":
		stmt, args = s.sql.updateIfETag, append(args, w.etag)
	case w.firstWrite:
		stmt = s.sql.insertNew
	}
	tag, err := q.Exec(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("set %q: %w", w.key, err)
	}
	if tag.RowsAffected() == 0 {
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
	etag, err := s.deleteETag(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return s.delete(ctx, s.pool, req.Key, etag)
}

func (s *Store) deleteETag(req *state.DeleteRequest) (string, error) {
	if req.ETag == nil || *req.ETag == "" {
		return "", nil
	}
	return s.layout.checkETag(*req.ETag)
}

func (s *Store) delete(ctx context.Context, q querier, key, etag string) error {
	stmt, args := s.sql.del, []any{key}
	if etag != "" {
		stmt, args = s.sql.delIfETag, append(args, etag)
	}
	tag, err := q.Exec(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if etag != "" && tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: key %q", state.ErrETagMismatch, key)
	}
	return nil
}

// Multi applies the operations in one SQL transaction; the first failing
// operation rolls back the others.
func (s *Store) Multi(ctx context.Context, req *state.TransactionRequest) error {
	if err := s.ready(); err != nil {
		return err
	}
	if len(req.Operations) == 0 {
		return nil
	}
	// Validate everything before opening the transaction.
	ops, err := sqlstore.PrepareOps(req.Operations, s.prepareSet, s.deleteETag)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return ops.Apply(
			func(w *write) error { return s.set(ctx, tx, w) },
			func(d *state.DeleteRequest, etag string) error { return s.delete(ctx, tx, d.Key, etag) })
	})
}

// cleanup deletes expired rows unless a store sharing the database did so
// within the interval (the last-cleanup row in the metadata table says),
// and returns how many it deleted.
func (s *Store) cleanup() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		meta := s.cfg.metadataTableName
		tag, err := tx.Exec(ctx, `INSERT INTO `+meta+` AS m (key, value) VALUES ($1, now()::text)
			ON CONFLICT (key) DO UPDATE SET value = now()::text
			WHERE (EXTRACT('epoch' FROM now() - m.value::timestamp with time zone) * 1000)::bigint >= $2`,
			s.cleanupKey(), s.cfg.cleanupInterval.Milliseconds())
		if err != nil {
			return fmt.Errorf("claim cleanup: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		tag, err = tx.Exec(ctx, `DELETE FROM `+s.cfg.tableName+` WHERE `+s.layout.expired)
		if err != nil {
			return fmt.Errorf("delete expired rows: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

// Close stops the cleanup loop and closes the pool; closing again is a
// no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cleaner.Stop()
		if s.pool != nil {
			s.pool.Close()
		}
	})
	return nil
}
