// Package sqlquery turns a validated state query (state.QueryRequest) into
// the WHERE, ORDER BY and paging parts of a SQL statement, for stores that
// keep JSON values in a column (sqlite, postgresql v1). The tree walk, the
// page tokens and the key-prefix scoping are written once here; a Dialect
// supplies only how its database reads a JSON field and binds arguments.
// ValidIdentifier is the one check of table names those stores share.
//
// It imports only the state store interface; it must not import any store
// implementation, building block or the sidecar.
package sqlquery
