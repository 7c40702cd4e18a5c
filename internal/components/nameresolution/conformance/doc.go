// Package conformance is the suite every name resolution registry passes:
// registration, refresh, deregistration, namespaces, expiry after the TTL,
// sharing between instances (as between processes), the heartbeat and
// round robin picking. Tests call Run with a constructor.
//
// It imports the nameresolution interface only; it is for tests.
package conformance
