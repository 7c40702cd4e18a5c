// Package redis is the state.redis store on github.com/redis/go-redis/v9.
// It keeps Dapr's layout: each key is a hash with a "data" field (the value)
// and a "version" field (the ETag, an integer), so state written by daprd
// reads back through cove and the other way round. Conditional writes and
// deletes run as Lua scripts; transactions check their conditions under
// WATCH and apply in MULTI/EXEC, so a failing condition applies nothing.
//
// It imports only the components registry and the state store interface;
// it must not import building blocks, the sidecar or the control plane.
package redis
