package postgresql

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
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

// queryExecModes are the values of Dapr's queryExecMode metadata.
var queryExecModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// metadata is the component's metadata as Dapr's PostgreSQL stores name
// and read it.
type metadata struct {
	state.RuntimeMetadata

	// ConnectionString is a URL or key=value connection string; the parts
	// below override what it says, as in Dapr.
	ConnectionString      string        `metadata:"connectionString,url"`
	Host                  string        `metadata:"host"`
	HostAddr              string        `metadata:"hostaddr"`
	Port                  *uint16       `metadata:"port"`
	Database              string        `metadata:"database,dbname"`
	User                  string        `metadata:"user"`
	Password              string        `metadata:"password"`
	SSLRootCert           string        `metadata:"sslRootCert"`
	MaxConns              int           `metadata:"maxConns"`
	ConnectionMaxIdleTime time.Duration `metadata:"connectionMaxIdleTime"`
	QueryExecMode         string        `metadata:"queryExecMode"`
	UseAzureAD            bool          `metadata:"useAzureAD"`
	UseAWSIAM             bool          `metadata:"useAWSIAM"`

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

	if m.ConnectionString == "" && m.Host == "" {
		errs = append(errs, errors.New("metadata connectionString is required (or host, port, database, user, password)"))
	}
	pool, err := pgxpool.ParseConfig(m.ConnectionString)
	if err != nil {
		// pgx's message may quote the connection string, password included.
		errs = append(errs, errors.New("metadata connectionString: not a PostgreSQL connection string (URL or key=value form)"))
	} else {
		s.pool = pool
		cc := pool.ConnConfig
		for _, part := range []struct {
			dst *string
			v   string
		}{
			{&cc.Host, m.Host}, {&cc.Host, m.HostAddr}, {&cc.Database, m.Database}, {&cc.User, m.User}, {&cc.Password, m.Password},
		} {
			if part.v != "" {
				*part.dst = part.v
			}
		}
		if m.Port != nil {
			cc.Port = *m.Port
		}
		if m.MaxConns < 0 {
			errs = append(errs, fmt.Errorf("metadata maxConns %d: not a number of connections", m.MaxConns))
		} else if m.MaxConns > 1 {
			pool.MaxConns = int32(min(m.MaxConns, 1<<20))
		}
		if m.ConnectionMaxIdleTime > 0 {
			pool.MaxConnIdleTime = m.ConnectionMaxIdleTime
		}
		if m.QueryExecMode != "" {
			mode, known := queryExecModes[m.QueryExecMode]
			if !known {
				errs = append(errs, fmt.Errorf("metadata queryExecMode %q: use one of cache_statement, cache_describe, describe_exec, exec, simple_protocol", m.QueryExecMode))
			}
			cc.DefaultQueryExecMode = mode
		}
	}
	if m.SSLRootCert != "" {
		errs = append(errs, errors.New("metadata sslRootCert: put sslrootcert=<file> in connectionString instead"))
	}
	if m.UseAzureAD || m.UseAWSIAM {
		errs = append(errs, errors.New("metadata useAzureAD/useAWSIAM: token authentication is not supported; use a password"))
	}

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
	if s.pool != nil && s.pool.ConnConfig.ConnectTimeout == 0 {
		s.pool.ConnConfig.ConnectTimeout = s.timeout
	}
	return s, errors.Join(errs...)
}

// address names the server for error messages.
func (s settings) address() string {
	cc := s.pool.ConnConfig
	if strings.HasPrefix(cc.Host, "/") {
		return cc.Host
	}
	return net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
}

// validTableName accepts "table" and "schema.table". Names go into SQL
// unquoted, as Dapr writes them, so both resolve to the same table.
func validTableName(s string) bool {
	schema, table, qualified := strings.Cut(s, ".")
	if !qualified {
		return sqlquery.ValidIdentifier(s)
	}
	return sqlquery.ValidIdentifier(schema) && sqlquery.ValidIdentifier(table)
}
