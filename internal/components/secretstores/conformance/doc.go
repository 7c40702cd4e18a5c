// Package conformance is the one test suite every secret store passes. A
// store's test seeds the store with Fixture (through whatever the store
// reads: a file, the environment) and hands Run a function that builds an
// initialised store.
//
// It may import the secretstores interface and the registry; it must not
// import implementations.
package conformance
