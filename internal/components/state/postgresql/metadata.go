package postgresql

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cove-env/cove/internal/components"
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

// parseSettings reads Dapr's metadata keys (case-insensitively); keys it
// does not know belong to the runtime and are ignored. It reports every
// problem at once.
func parseSettings(md components.Metadata) (settings, error) {
	get := md.Property
	s := settings{
		version:           md.Version,
		metadataTableName: defaultMetadataTableName,
		timeout:           defaultTimeout,
		cleanupInterval:   defaultCleanupInterval,
	}
	if s.version == "" {
		s.version = "v1"
	}
	var errs []error

	conn, hasConn := get("connectionString", "url")
	host, hasHost := get("host")
	if !hasConn && !hasHost {
		errs = append(errs, errors.New("metadata connectionString is required (or host, port, database, user, password)"))
	}
	pool, err := pgxpool.ParseConfig(conn)
	if err != nil {
		// pgx's message may quote the connection string, password included.
		errs = append(errs, errors.New("metadata connectionString: not a PostgreSQL connection string (URL or key=value form)"))
	} else {
		s.pool = pool
		cc := pool.ConnConfig
		// The parts override what the connection string says, as in Dapr.
		if hasHost {
			cc.Host = host
		}
		if v, ok := get("hostaddr"); ok {
			cc.Host = v
		}
		if v, ok := get("port"); ok {
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata port %q: not a port number", v))
			}
			cc.Port = uint16(p)
		}
		if v, ok := get("database", "dbname"); ok {
			cc.Database = v
		}
		if v, ok := get("user"); ok {
			cc.User = v
		}
		if v, ok := get("password"); ok {
			cc.Password = v
		}
		if _, ok := get("sslRootCert"); ok {
			errs = append(errs, errors.New("metadata sslRootCert: put sslrootcert=<file> in connectionString instead"))
		}
		if v, ok := get("maxConns"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("metadata maxConns %q: not a number of connections", v))
			} else if n > 1 {
				pool.MaxConns = int32(min(n, 1<<20))
			}
		}
		if d, _, err := md.Duration("connectionMaxIdleTime"); err != nil {
			errs = append(errs, err)
		} else if d > 0 {
			pool.MaxConnIdleTime = d
		}
		if v, ok := get("queryExecMode"); ok {
			mode, known := queryExecModes[v]
			if !known {
				errs = append(errs, fmt.Errorf("metadata queryExecMode %q: use one of cache_statement, cache_describe, describe_exec, exec, simple_protocol", v))
			}
			cc.DefaultQueryExecMode = mode
		}
	}
	for _, name := range []string{"useAzureAD", "useAWSIAM"} {
		if v, ok := get(name); ok && v != "false" {
			errs = append(errs, fmt.Errorf("metadata %s: token authentication is not supported; use a password", name))
		}
	}

	switch s.version {
	case "v1":
		s.tableName = defaultTableName
		if v, ok := get("tableName"); ok {
			s.tableName = v
		}
		if _, ok := get("tablePrefix"); ok {
			errs = append(errs, errors.New("metadata tablePrefix is for version v2; v1 takes tableName"))
		}
	case "v2":
		prefix, _ := get("tablePrefix")
		s.tableName = prefix + "state"
		if _, ok := get("tableName"); ok {
			errs = append(errs, errors.New("metadata tableName is for version v1; v2 takes tablePrefix"))
		}
	default:
		errs = append(errs, fmt.Errorf("version %q: use v1 or v2", s.version))
	}
	if v, ok := get("metadataTableName"); ok {
		s.metadataTableName = v
	}
	if v, ok := get("schema"); ok {
		if !sqlquery.ValidIdentifier(v) {
			errs = append(errs, fmt.Errorf("metadata schema %q: only letters, digits and _ are allowed", v))
		}
		s.schema = v
		for _, t := range []*string{&s.tableName, &s.metadataTableName} {
			if !strings.Contains(*t, ".") {
				*t = v + "." + *t
			}
		}
	}
	for _, id := range []struct{ key, v string }{{"tableName", s.tableName}, {"metadataTableName", s.metadataTableName}} {
		if !validTableName(id.v) {
			errs = append(errs, fmt.Errorf("metadata %s %q: use table or schema.table, with letters, digits and _", id.key, id.v))
		}
	}

	durations := []struct {
		dst   *time.Duration
		names []string
	}{
		{&s.timeout, []string{"timeout", "timeoutInSeconds"}},
		{&s.cleanupInterval, []string{"cleanupInterval", "cleanupIntervalInSeconds"}},
	}
	for _, d := range durations {
		dur, ok, err := md.Duration(d.names...)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			*d.dst = dur
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
