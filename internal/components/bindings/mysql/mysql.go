// Package mysql is the bindings.mysql output binding, as Dapr's: exec and
// query run the sql metadata item with the params JSON array as arguments
// (?); query answers the rows as a JSON array of objects by column name
// (NULL columns left out); close closes the binding. MariaDB works the same.
package mysql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
)

// Type is the component type this package registers.
const Type = "bindings.mysql"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ bindings.Output = (*Binding)(nil)

// Binding is the MySQL output binding.
type Binding struct {
	mu sync.RWMutex
	db *sql.DB // nil once closed
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{} }

// Init opens the database the url metadata item names (a DSN,
// user:password@tcp(host:port)/database) and checks that it answers.
func (b *Binding) Init(ctx context.Context, md components.Metadata) error {
	var m struct {
		bindings.RuntimeMetadata
		URL             string        `metadata:"url"`
		PemPath         string        `metadata:"pemPath"`
		MaxIdleConns    int           `metadata:"maxIdleConns"`
		MaxOpenConns    int           `metadata:"maxOpenConns"`
		ConnMaxLifetime time.Duration `metadata:"connMaxLifetime"`
		ConnMaxIdleTime time.Duration `metadata:"connMaxIdleTime"`
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if m.URL == "" {
		return fmt.Errorf("%s %q: metadata url is required: a DSN such as user:password@tcp(host:3306)/database", Type, md.Name)
	}
	cfg, err := gomysql.ParseDSN(m.URL)
	if err != nil {
		// The driver's message may quote the DSN, password included.
		return fmt.Errorf("%s %q: metadata url: not a MySQL DSN (user:password@tcp(host:port)/database)", Type, md.Name)
	}
	if m.PemPath != "" {
		pem, err := os.ReadFile(m.PemPath)
		if err != nil {
			return fmt.Errorf("%s %q: metadata pemPath: %w", Type, md.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s %q: metadata pemPath: no certificate in %s", Type, md.Name, m.PemPath)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cfg.ParseTime = true
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	db := sql.OpenDB(conn)
	if m.MaxIdleConns > 0 {
		db.SetMaxIdleConns(m.MaxIdleConns)
	}
	if m.MaxOpenConns > 0 {
		db.SetMaxOpenConns(m.MaxOpenConns)
	}
	db.SetConnMaxIdleTime(m.ConnMaxIdleTime)
	db.SetConnMaxLifetime(m.ConnMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("%s %q: cannot reach MySQL at %s: %w", Type, md.Name, cfg.Addr, err)
	}
	b.db = db
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
	if b.db == nil {
		return nil, errors.New("component is closed")
	}
	return bindings.SQL{
		Exec: func(stmt string, args []any) (int64, error) {
			res, err := b.db.ExecContext(ctx, stmt, args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		},
		Query: func(stmt string, args []any) ([]byte, error) {
			rows, err := b.db.QueryContext(ctx, stmt, args...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			return jsonRows(rows)
		},
	}.Invoke(req)
}

var rawBytes = reflect.TypeFor[*sql.RawBytes]()

// jsonRows encodes rows as Dapr's binding does: each row an object by
// column name, values scanned into the driver's types, text as strings,
// other bytes (JSON and BLOB columns) base64, NULLs left out.
func jsonRows(rows *sql.Rows) ([]byte, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			if ct.DatabaseTypeName() == "JSON" {
				vals[i] = reflect.New(rawBytes.Elem()).Interface()
				continue
			}
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		row := map[string]any{}
		for i, ct := range types {
			var v any = vals[i]
			switch x := vals[i].(type) {
			case driver.Valuer:
				if vv, err := x.Value(); err == nil {
					v = vv
				}
			case *sql.RawBytes:
				switch ct.DatabaseTypeName() {
				case "VARCHAR", "CHAR", "TEXT", "LONGTEXT":
					v = string(*x)
				default:
					v = append([]byte(nil), *x...)
				}
			}
			if v != nil {
				row[ct.Name()] = v
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// Close closes the database; later calls answer that the component is
// closed.
func (b *Binding) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db = nil
	return err
}
