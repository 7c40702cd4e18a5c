// Package inmemory is the state.in-memory store: a map guarded by a mutex,
// with ETags, TTLs, first-write concurrency and atomic transactions. Its
// data lives only as long as the store instance, as with Dapr's in-memory
// store; it suits tests and development.
//
// It imports only the components registry and the state store interface;
// it must not import building blocks, the sidecar or the control plane.
package inmemory
