package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/nameresolution"
)

// Type is the component type this package registers, Dapr's.
const Type = "nameresolution.sqlite"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ nameresolution.Registry = (*Registry)(nil)

// Registry is the SQLite name resolution registry.
type Registry struct {
	common nameresolution.CommonSettings
	path   string
	table  string
	db     *sql.DB
	now    func() time.Time

	sweeper   *nameresolution.Sweeper
	closeOnce sync.Once
}

// New returns an uninitialised registry.
func New() *Registry { return &Registry{now: time.Now} }

// Path is the database file, once initialised.
func (r *Registry) Path() string { return r.path }

// metadata is the registry's metadata, with the keys of Dapr's SQLite
// name resolution.
type metadata struct {
	nameresolution.CommonSettings

	ConnectionString string        `metadata:"connectionString"`
	TableName        string        `metadata:"tableName"`
	BusyTimeout      time.Duration `metadata:"busyTimeout"`
	CleanupInterval  time.Duration `metadata:"cleanupInterval"`
}

// Init opens (creating if needed) the database file and its table.
func (r *Registry) Init(ctx context.Context, md components.Metadata) error {
	m := metadata{
		CommonSettings:  nameresolution.DefaultCommon(time.Second),
		TableName:       nameresolution.DefaultTableName,
		BusyTimeout:     2 * time.Second,
		CleanupInterval: time.Hour,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err, m.Check(), nameresolution.CheckTableName("tableName", m.TableName)}
	if m.ConnectionString == "" {
		errs = append(errs, errors.New("metadata connectionString is required (the database file)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", Type, err)
	}
	r.common, r.table = m.CommonSettings, m.TableName
	conn, busy, cleanup := m.ConnectionString, m.BusyTimeout, m.CleanupInterval
	path := strings.TrimPrefix(conn, "file:")
	path, _, _ = strings.Cut(path, "?")
	if path == "" || path == ":memory:" {
		return fmt.Errorf("%s: connectionString %q: name resolution needs a file shared by processes, not an in-memory database", Type, conn)
	}
	if !filepath.IsAbs(path) && md.BaseDir != "" {
		path = filepath.Join(md.BaseDir, path)
	}
	r.path = path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("%s: create directory for %s: %w", Type, path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+esc+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", Type, path, err)
	}
	// Writes are tiny and rare (one per sidecar per interval); two
	// connections let a lookup run beside a heartbeat.
	db.SetMaxOpenConns(2)
	ictx, cancel := context.WithTimeout(ctx, r.common.Timeout+busy)
	defer cancel()
	ddl := `CREATE TABLE IF NOT EXISTS ` + r.table + ` (
		namespace TEXT NOT NULL,
		app_id TEXT NOT NULL,
		instance_id TEXT NOT NULL,
		address TEXT NOT NULL,
		expires_at INTEGER NOT NULL,
		PRIMARY KEY (namespace, app_id, instance_id)
	)`
	if _, err := db.ExecContext(ictx, ddl); err != nil {
		_ = db.Close()
		return fmt.Errorf("%s: create table %s in %s: %w", Type, r.table, path, err)
	}
	r.db = db
	if cleanup > 0 {
		r.sweeper = nameresolution.StartSweeper(cleanup, r.common.Timeout, r.deleteExpired)
	}
	return nil
}

// Register upserts reg with an expiry TTL from now.
func (r *Registry) Register(ctx context.Context, reg nameresolution.Registration) error {
	if err := reg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	exp := r.now().Add(r.common.TTL()).UnixMilli()
	_, err := r.db.ExecContext(ctx, `INSERT INTO `+r.table+` (namespace, app_id, instance_id, address, expires_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (namespace, app_id, instance_id) DO UPDATE SET address = excluded.address, expires_at = excluded.expires_at`,
		reg.Namespace, reg.AppID, reg.InstanceID, reg.Address, exp)
	if err != nil {
		return fmt.Errorf("%s: register %s: %w", Type, reg.AppID, err)
	}
	return nil
}

// Deregister deletes reg's row.
func (r *Registry) Deregister(ctx context.Context, reg nameresolution.Registration) error {
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	_, err := r.db.ExecContext(ctx, `DELETE FROM `+r.table+` WHERE namespace = ? AND app_id = ? AND instance_id = ?`,
		reg.Namespace, reg.AppID, reg.InstanceID)
	if err != nil {
		return fmt.Errorf("%s: deregister %s: %w", Type, reg.AppID, err)
	}
	return nil
}

// Lookup returns the unexpired rows of appID.
func (r *Registry) Lookup(ctx context.Context, namespace, appID string) ([]nameresolution.Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	rows, err := r.db.QueryContext(ctx, `SELECT instance_id, address FROM `+r.table+`
		WHERE namespace = ? AND app_id = ? AND expires_at > ? ORDER BY instance_id`,
		namespace, appID, r.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("%s: look up %s: %w", Type, appID, err)
	}
	defer rows.Close()
	out, err := nameresolution.ScanRegistrations(rows, namespace, appID)
	if err != nil {
		return nil, fmt.Errorf("%s: look up %s: %w", Type, appID, err)
	}
	return out, nil
}

// UpdateInterval is the configured heartbeat interval.
func (r *Registry) UpdateInterval() time.Duration { return r.common.UpdateInterval }

// TTL is how long a registration outlives its last heartbeat.
func (r *Registry) TTL() time.Duration { return r.common.TTL() }

// deleteExpired deletes the rows lookups already ignore.
func (r *Registry) deleteExpired(ctx context.Context) {
	_, _ = r.db.ExecContext(ctx, `DELETE FROM `+r.table+` WHERE expires_at <= ?`, r.now().UnixMilli())
}

// Close stops the cleanup loop and closes the database.
func (r *Registry) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.sweeper.Stop()
		if r.db != nil {
			err = r.db.Close()
		}
	})
	return err
}
