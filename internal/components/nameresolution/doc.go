// Package nameresolution owns the name resolution interface standalone
// sidecars share: a Registry where each sidecar records its Dapr app id
// and the address of its internal (sidecar-to-sidecar) listener, refreshed
// by a heartbeat and expiring when the heartbeats stop; the Heartbeat that
// keeps a registration alive and removes it on a clean exit; and the Picker
// that resolves an app id to one live sidecar, round robin.
//
// Implementations live in subpackages (sqlite for one machine, redis and
// postgresql for several) and register with the component registry under
// Dapr's type names ("nameresolution.sqlite"). The conformance subpackage
// is the suite every implementation passes.
//
// It imports only the component registry: sidecars and the standalone
// runner consume it, never the other way round.
package nameresolution
