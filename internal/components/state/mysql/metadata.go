package mysql

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
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

// metadata is the component's metadata as Dapr's MySQL store names and
// reads it.
type metadata struct {
	state.RuntimeMetadata

	ConnectionString  string        `metadata:"connectionString"`
	SchemaName        string        `metadata:"schemaName"`
	TableName         string        `metadata:"tableName"`
	MetadataTableName string        `metadata:"metadataTableName"`
	PemPath           string        `metadata:"pemPath"`
	PemContents       string        `metadata:"pemContents"`
	Timeout           time.Duration `metadata:"timeoutInSeconds,timeout"`
	CleanupInterval   time.Duration `metadata:"cleanupIntervalInSeconds,cleanupInterval"`
}

// parseSettings decodes the metadata and checks what decoding cannot:
// the required connection string and names. It reports every problem at
// once.
func parseSettings(md components.Metadata) (settings, error) {
	m := metadata{
		SchemaName:        defaultSchemaName,
		TableName:         defaultTableName,
		MetadataTableName: defaultMetadataTableName,
		CleanupInterval:   defaultCleanupInterval,
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	s := settings{
		tableName:         m.TableName,
		metadataTableName: m.MetadataTableName,
		timeout:           defaultTimeout,
		cleanupInterval:   m.CleanupInterval,
	}
	for _, id := range []struct{ key, v string }{{"schemaName", m.SchemaName}, {"tableName", s.tableName}, {"metadataTableName", s.metadataTableName}} {
		if !sqlquery.ValidIdentifier(id.v) {
			errs = append(errs, fmt.Errorf("metadata %s %q: only letters, digits and _ are allowed", id.key, id.v))
		}
	}

	if m.ConnectionString == "" {
		errs = append(errs, errors.New("metadata connectionString is required (user:password@tcp(host:3306)/)"))
	} else if cfg, err := mysql.ParseDSN(m.ConnectionString); err != nil {
		// The driver's message may quote the DSN, password included.
		errs = append(errs, errors.New("metadata connectionString: not a MySQL DSN (user:password@tcp(host:3306)/?param=value)"))
	} else {
		cfg.DBName = m.SchemaName
		// Read and write TIMESTAMPs in UTC whatever the server's zone, so
		// expiry times mean the same to every client.
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
		cfg.ParseTime, cfg.Loc = true, time.UTC
		s.dsn = cfg
	}
	if m.PemPath != "" || m.PemContents != "" {
		errs = append(errs, errors.New("metadata pemPath/pemContents: TLS with a custom CA is not supported yet; use tls=true or tls=skip-verify in connectionString"))
	}

	// A timeout of 0 or less means the default, as in Dapr.
	if m.Timeout > 0 {
		s.timeout = m.Timeout
	}
	if s.dsn != nil && s.dsn.Timeout == 0 {
		s.dsn.Timeout = s.timeout
	}
	return s, errors.Join(errs...)
}
