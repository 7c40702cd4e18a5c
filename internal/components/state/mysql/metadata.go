package mysql

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state/sqlquery"
)

// Defaults, as Dapr's MySQL store documents them.
const (
	defaultTableName         = "state"
	defaultMetadataTableName = "dapr_metadata"
	defaultSchemaName        = "dapr_state_store"
	defaultTimeout           = 20 * time.Second
	defaultCleanupInterval   = time.Hour
)

// settings is the parsed component metadata.
type settings struct {
	dsn               *mysql.Config // DBName is the schema
	tableName         string
	metadataTableName string
	timeout           time.Duration
	cleanupInterval   time.Duration // <= 0: no cleanup loop
}

// parseSettings reads Dapr's metadata keys (case-insensitively); keys it
// does not know belong to the runtime and are ignored. It reports every
// problem at once.
func parseSettings(md components.Metadata) (settings, error) {
	get := md.Property
	s := settings{
		tableName:         defaultTableName,
		metadataTableName: defaultMetadataTableName,
		timeout:           defaultTimeout,
		cleanupInterval:   defaultCleanupInterval,
	}
	var errs []error
	schema := defaultSchemaName
	if v, ok := get("schemaName"); ok {
		schema = v
	}
	if v, ok := get("tableName"); ok {
		s.tableName = v
	}
	if v, ok := get("metadataTableName"); ok {
		s.metadataTableName = v
	}
	for _, id := range []struct{ key, v string }{{"schemaName", schema}, {"tableName", s.tableName}, {"metadataTableName", s.metadataTableName}} {
		if !sqlquery.ValidIdentifier(id.v) {
			errs = append(errs, fmt.Errorf("metadata %s %q: only letters, digits and _ are allowed", id.key, id.v))
		}
	}

	conn, ok := get("connectionString")
	if !ok {
		errs = append(errs, errors.New("metadata connectionString is required (user:password@tcp(host:3306)/)"))
	} else if cfg, err := mysql.ParseDSN(conn); err != nil {
		// The driver's message may quote the DSN, password included.
		errs = append(errs, errors.New("metadata connectionString: not a MySQL DSN (user:password@tcp(host:3306)/?param=value)"))
	} else {
		cfg.DBName = schema
		// Read and write TIMESTAMPs in UTC whatever the server's zone, so
		// expiry times mean the same to every client.
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
		cfg.ParseTime, cfg.Loc = true, time.UTC
		s.dsn = cfg
	}
	if _, ok := get("pemPath", "pemContents"); ok {
		errs = append(errs, errors.New("metadata pemPath/pemContents: TLS with a custom CA is not supported yet; use tls=true or tls=skip-verify in connectionString"))
	}

	// A timeout of 0 or less means the default, as in Dapr.
	if d, _, err := md.Duration("timeoutInSeconds", "timeout"); err != nil {
		errs = append(errs, err)
	} else if d > 0 {
		s.timeout = d
	}
	if d, ok, err := md.Duration("cleanupIntervalInSeconds", "cleanupInterval"); err != nil {
		errs = append(errs, err)
	} else if ok {
		s.cleanupInterval = d
	}
	if s.dsn != nil && s.dsn.Timeout == 0 {
		s.dsn.Timeout = s.timeout
	}
	return s, errors.Join(errs...)
}
