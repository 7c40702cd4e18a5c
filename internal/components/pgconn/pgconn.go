// Package pgconn is what Dapr's PostgreSQL components (state.postgresql,
// configuration.postgresql, bindings.postgresql) share: their connection
// metadata, read with Dapr's keys, and the pgx pool configuration it
// describes.
//
// It imports no cove package.
package pgconn

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// queryExecModes are the values of Dapr's queryExecMode metadata.
var queryExecModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// Metadata is the connection metadata of Dapr's PostgreSQL components; a
// component embeds it in the struct it decodes its metadata into.
type Metadata struct {
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
}

// Pool checks the metadata and builds the pool configuration, with
// connectTimeout as the connect timeout when the connection string sets
// none. It reports every problem at once; the pool is nil when the
// connection string cannot be read.
func (m Metadata) Pool(connectTimeout time.Duration) (*pgxpool.Config, error) {
	var errs []error
	if m.ConnectionString == "" && m.Host == "" {
		errs = append(errs, errors.New("metadata connectionString is required (or host, port, database, user, password)"))
	}
	pool, err := pgxpool.ParseConfig(m.ConnectionString)
	if err != nil {
		// pgx's message may quote the connection string, password included.
		errs = append(errs, errors.New("metadata connectionString: not a PostgreSQL connection string (URL or key=value form)"))
		pool = nil
	} else {
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
		if cc.ConnectTimeout == 0 {
			cc.ConnectTimeout = connectTimeout
		}
	}
	if m.SSLRootCert != "" {
		errs = append(errs, errors.New("metadata sslRootCert: put sslrootcert=<file> in connectionString instead"))
	}
	if m.UseAzureAD || m.UseAWSIAM {
		errs = append(errs, errors.New("metadata useAzureAD/useAWSIAM: token authentication is not supported; use a password"))
	}
	return pool, errors.Join(errs...)
}

// Address names the server of a pool configuration for error messages.
func Address(pool *pgxpool.Config) string {
	cc := pool.ConnConfig
	if strings.HasPrefix(cc.Host, "/") {
		return cc.Host
	}
	return net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
}
