// Package mysql is the state.mysql store for MySQL and MariaDB, over
// database/sql and go-sql-driver/mysql. It keeps Dapr's table layout (id,
// a JSON value, isbinary, a uuid eTag, expiredate) in schemaName, which it
// creates if missing, so data written by daprd reads back here and the
// other way round; a metadata table records the last cleanup of expired
// rows for every store sharing the database.
//
// It imports only the components registry and the state store interface;
// it must not import building blocks, the sidecar or the control plane.
package mysql
