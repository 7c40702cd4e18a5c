// Package sqlstore holds what the SQL state stores (sqlite, mysql,
// postgresql) do the same way: the background loop that deletes expired
// rows, the claim-then-delete cleanup that lets stores sharing one database
// take turns, and transactions over database/sql. Each store keeps its own
// SQL: the statements, the expiry column and how its database compares
// times stay in the store, explicit per dialect.
//
// It imports no cove package; it must not import a store implementation,
// a building block or the sidecar.
package sqlstore
