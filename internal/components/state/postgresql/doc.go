// Package postgresql is the state.postgresql store, versions v1 and v2,
// over pgx's connection pool. Each version keeps Dapr's table layout, so
// data written by daprd reads back here and the other way round:
//
//   - v1: one table (tableName, default "state") with a jsonb value, an
//     isbinary flag and an expiredate; the ETag is the row's xmin, the id
//     of the transaction that last wrote it. It answers state queries.
//   - v2: "<tablePrefix>state" with a bytea value and a uuid ETag column.
//
// Both record their migration level in Dapr's metadata table
// (metadataTableName, default "dapr_metadata") and delete expired rows on
// cleanupInterval, coordinating through that table with any other store
// (cove's or daprd's) sharing the database.
//
// It imports only the components registry and the state store packages;
// it must not import building blocks, the sidecar or the control plane.
package postgresql
