// Package sqlite is the state.sqlite store, cove's embedded default: one
// SQLite file (modernc.org/sqlite, no cgo) with the same schema as Dapr's
// SQLite state store, so a database written by either reads back through the
// other. It owns the connection handling (one writer connection, a small
// pool of readers), the schema migration, ETags, TTLs and the cleanup loop
// that deletes expired rows.
//
// It imports only the components registry and the state store interface;
// it must not import building blocks, the sidecar or the control plane.
package sqlite
