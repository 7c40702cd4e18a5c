// Package postgresql is the bindings.postgresql output binding, as Dapr's:
// exec and query run the sql metadata item with the params JSON array as
// arguments ($1, $2, …); query answers the rows as a JSON array of arrays;
// close closes the binding.
package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/pgconn"
)

// Type is the component type this package registers, also under Dapr's
// other name for it, bindings.postgres.
const Type = "bindings.postgresql"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
	components.Register(components.Info{Type: "bindings.postgres", New: func() any { return New() }})
}

var _ bindings.Output = (*Binding)(nil)

// Binding is the PostgreSQL output binding.
type Binding struct {
	mu   sync.RWMutex
	pool *pgxpool.Pool // nil once closed
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{} }

// Init connects with Dapr's PostgreSQL connection metadata.
func (b *Binding) Init(ctx context.Context, md components.Metadata) error {
	m := struct {
		pgconn.Metadata
		bindings.RuntimeMetadata
		Timeout time.Duration `metadata:"timeout,timeoutInSeconds"`
	}{Timeout: 20 * time.Second}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	cfg, perr := m.Metadata.Pool(m.Timeout)
	if err := errors.Join(err, perr); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, cfg)
	if err != nil {
		return fmt.Errorf("%s %q: connect to PostgreSQL at %s: %w", Type, md.Name, pgconn.Address(cfg), err)
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return fmt.Errorf("%s %q: cannot reach PostgreSQL at %s: %w", Type, md.Name, pgconn.Address(cfg), err)
	}
	b.pool = pool
	return nil
}

// Operations are Dapr's: exec, query, close.
func (b *Binding) Operations() []string {
	return []string{bindings.OperationExec, bindings.OperationQuery, bindings.OperationClose}
}

// Invoke runs one operation.
func (b *Binding) Invoke(ctx context.Context, req *bindings.Request) (*bindings.Response, error) {
	if req.Operation == bindings.OperationClose {
		return nil, b.Close()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.pool == nil {
		return nil, errors.New("component is closed")
	}
	return bindings.SQL{
		Exec: func(sql string, args []any) (int64, error) {
			tag, err := b.pool.Exec(ctx, sql, args...)
			return tag.RowsAffected(), err
		},
		Query: func(sql string, args []any) ([]byte, error) {
			rows, err := b.pool.Query(ctx, sql, args...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := []any{}
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					return nil, err
				}
				out = append(out, vals)
			}
			if err := rows.Err(); err != nil {
				return nil, err
			}
			return json.Marshal(out)
		},
	}.Invoke(req)
}

// Close closes the pool; later calls answer that the component is closed.
func (b *Binding) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pool != nil {
		b.pool.Close()
		b.pool = nil
	}
	return nil
}
