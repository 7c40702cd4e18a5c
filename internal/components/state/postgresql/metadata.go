package postgresql

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/pgconn"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlquery"
)

// Defaults, as Dapr's PostgreSQL stores document them.
const (
	defaultTableName         = "state"
	defaultMetadataTableName = "dapr_metadata"
	defaultTimeout           = 20 * time.Second
	defaultCleanupInterval   = time.Hour
)

// settings is the parsed component metadata.
type settings struct {
	version           string // "v1" or "v2"
	pool              *pgxpool.Config
	tableName         string // the state table, schema-qualified when a schema was given
	metadataTableName string
	schema            string // created if missing; "" for the connection's search path
	timeout           time.Duration
	cleanupInterval   time.Duration // <= 0: no cleanup loop
}

// metadata is the component's metadata as Dapr's PostgreSQL stores name
// and read it.
type metadata struct {
	state.RuntimeMetadata

	pgconn.Metadata

	TableName         string        `metadata:"tableName"`   // v1
	TablePrefix       string        `metadata:"tablePrefix"` // v2
	MetadataTableName string        `metadata:"metadataTableName"`
	Schema            string        `metadata:"schema"`
	Timeout           time.Duration `metadata:"timeout,timeoutInSeconds"`
	CleanupInterval   time.Duration `metadata:"cleanupInterval,cleanupIntervalInSeconds"`
}

// parseSettings decodes the metadata and checks what decoding cannot:
// required keys, keys of the other version, names, ranges. It reports
// every problem at once.
func parseSettings(md components.Metadata) (settings, error) {
	m := metadata{
		MetadataTableName: defaultMetadataTableName,
		Timeout:           defaultTimeout,
		CleanupInterval:   defaultCleanupInterval,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	s := settings{
		version:           md.Version,
		metadataTableName: m.MetadataTableName,
		timeout:           m.Timeout,
		cleanupInterval:   m.CleanupInterval,
	}
	if s.version == "" {
		s.version = "v1"
	}

	pool, err := m.Metadata.Pool(s.timeout)
	errs = append(errs, err)
	s.pool = pool

	switch s.version {
	case "v1":
		s.tableName = cmp.Or(m.TableName, defaultTableName)
		if m.TablePrefix != "" {
			errs = append(errs, errors.New("metadata tablePrefix is for version v2; v1 takes tableName"))
		}
	case "v2":
		s.tableName = m.TablePrefix + "state"
		if m.TableName != "" {
			errs = append(errs, errors.New("metadata tableName is for version v1; v2 takes tablePrefix"))
		}
	default:
		errs = append(errs, fmt.Errorf("version %q: use v1 or v2", s.version))
	}
	if m.Schema != "" {
		if !sqlquery.ValidIdentifier(m.Schema) {
			errs = append(errs, fmt.Errorf("metadata schema %q: only letters, digits and _ are allowed", m.Schema))
		}
		s.schema = m.Schema
		for _, t := range []*string{&s.tableName, &s.metadataTableName} {
			if !strings.Contains(*t, ".") {
				*t = m.Schema + "." + *t
			}
		}
	}
	for _, id := range []struct{ key, v string }{{"tableName", s.tableName}, {"metadataTableName", s.metadataTableName}} {
		if !validTableName(id.v) {
			errs = append(errs, fmt.Errorf("metadata %s %q: use table or schema.table, with letters, digits and _", id.key, id.v))
		}
	}
	if s.timeout < time.Second {
		errs = append(errs, fmt.Errorf("metadata timeout %s: must be at least 1s", s.timeout))
	}
	return s, errors.Join(errs...)
}

// address names the server for error messages.
func (s settings) address() string { return pgconn.Address(s.pool) }

// validTableName accepts "table" and "schema.table". Names go into SQL
// unquoted, as Dapr writes them, so both resolve to the same table.
func validTableName(s string) bool {
	schema, table, qualified := strings.Cut(s, ".")
	if !qualified {
		return sqlquery.ValidIdentifier(s)
	}
	return sqlquery.ValidIdentifier(schema) && sqlquery.ValidIdentifier(table)
}
