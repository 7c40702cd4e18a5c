// Package postgresql is the nameresolution.postgresql registry, for
// sidecars on several machines that share a PostgreSQL database. One table
// (tableName, default cove_sidecars) holds a row per sidecar with an
// expiry computed by the server's clock, so machines with skewed clocks
// agree on what has expired. Metadata keys follow Dapr's PostgreSQL
// components: connectionString, tableName, timeout, cleanupInterval, plus
// updateInterval.
//
// It imports only the component registry and the nameresolution interface.
package postgresql
