package postgresql

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/nameresolution"
)

// Type is the component type this package registers.
const Type = "nameresolution.postgresql"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ nameresolution.Registry = (*Registry)(nil)

// Registry is the PostgreSQL name resolution registry.
type Registry struct {
	common nameresolution.CommonSettings
	table  string
	pool   *pgxpool.Pool

	sweeper   *nameresolution.Sweeper
	closeOnce sync.Once
}

// New returns an uninitialised registry.
func New() *Registry { return &Registry{} }

// metadata is the registry's metadata, with the keys of Dapr's
// PostgreSQL components.
type metadata struct {
	nameresolution.CommonSettings

	ConnectionString string        `metadata:"connectionString"`
	TableName        string        `metadata:"tableName"`
	CleanupInterval  time.Duration `metadata:"cleanupInterval"`
}

// Init connects and creates the table.
func (r *Registry) Init(ctx context.Context, md components.Metadata) error {
	m := metadata{
		CommonSettings:  nameresolution.DefaultCommon(5 * time.Second),
		TableName:       nameresolution.DefaultTableName,
		CleanupInterval: time.Hour,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err, m.Check(), nameresolution.CheckTableName("tableName", m.TableName)}
	var cfg *pgxpool.Config
	if m.ConnectionString == "" {
		errs = append(errs, errors.New("metadata connectionString is required"))
	} else if cfg, err = pgxpool.ParseConfig(m.ConnectionString); err != nil {
		// The parser's error may quote the password; name the key only.
		errs = append(errs, errors.New("metadata connectionString: cannot be parsed"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", Type, err)
	}
	r.common, r.table = m.CommonSettings, m.TableName
	cleanup := m.CleanupInterval
	cfg.MaxConns = 4
	ictx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ictx, cfg)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", Type, err)
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + r.table + ` (
		namespace TEXT NOT NULL,
		app_id TEXT NOT NULL,
		instance_id TEXT NOT NULL,
		address TEXT NOT NULL,
		expires_at TIMESTAMPTZ NOT NULL,
		PRIMARY KEY (namespace, app_id, instance_id)
	)`
	if _, err := pool.Exec(ictx, ddl); err != nil {
		pool.Close()
		return fmt.Errorf("%s: create table %s: %w", Type, r.table, err)
	}
	r.pool = pool
	if cleanup > 0 {
		r.sweeper = nameresolution.StartSweeper(cleanup, r.common.Timeout, r.deleteExpired)
	}
	return nil
}

// Register upserts reg with an expiry TTL after the server's now.
func (r *Registry) Register(ctx context.Context, reg nameresolution.Registration) error {
	if err := reg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	_, err := r.pool.Exec(ctx, `INSERT INTO `+r.table+` (namespace, app_id, instance_id, address, expires_at)
		VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
		ON CONFLICT (namespace, app_id, instance_id) DO UPDATE SET address = excluded.address, expires_at = excluded.expires_at`,
		reg.Namespace, reg.AppID, reg.InstanceID, reg.Address, r.common.TTL().Seconds())
	if err != nil {
		return fmt.Errorf("%s: register %s: %w", Type, reg.AppID, err)
	}
	return nil
}

// Deregister deletes reg's row.
func (r *Registry) Deregister(ctx context.Context, reg nameresolution.Registration) error {
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	_, err := r.pool.Exec(ctx, `DELETE FROM `+r.table+` WHERE namespace = $1 AND app_id = $2 AND instance_id = $3`,
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
	rows, err := r.pool.Query(ctx, `SELECT instance_id, address FROM `+r.table+`
		WHERE namespace = $1 AND app_id = $2 AND expires_at > now() ORDER BY instance_id`, namespace, appID)
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
	_, _ = r.pool.Exec(ctx, `DELETE FROM `+r.table+` WHERE expires_at <= now()`)
}

// Close stops the cleanup loop and closes the pool.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.sweeper.Stop()
		if r.pool != nil {
			r.pool.Close()
		}
	})
	return nil
}
