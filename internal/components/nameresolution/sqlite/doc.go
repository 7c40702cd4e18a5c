// Package sqlite is the nameresolution.sqlite registry: a SQLite file that
// every standalone sidecar on one machine opens (WAL, busy timeout), with
// Dapr's metadata keys (connectionString, updateInterval, timeout,
// tableName, cleanupInterval, busyTimeout). Expiry uses the local clock,
// which all users of a local file share.
//
// It imports only the component registry and the nameresolution interface.
package sqlite
