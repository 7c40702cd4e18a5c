// Package components is the one registry of pluggable components (state
// stores, pub/sub brokers, bindings, secret stores, ...). Each
// implementation lives in its own package under internal/components/<kind>/<name>
// and registers itself from init() under its Dapr type ("state.redis") and
// the versions it accepts ("v1"). Hosts look a type up, construct it and
// type-assert it to the kind's interface (for example state.Store).
//
// Components read their metadata with Metadata.Decode into a struct whose
// `metadata` tags give Dapr's keys, so every component matches keys and
// reads values the way daprd does, and reports keys it does not use.
//
// This package must not import building blocks, the sidecar or the control
// plane: dependencies point from them to here.
package components
