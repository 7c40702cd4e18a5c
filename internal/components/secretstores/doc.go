// Package secretstores defines the interface every secret store implements
// (Dapr's secretstores.* component kind) and the errors it reports.
// Implementations live in subpackages (local/file, local/env) and register
// with the components registry; the conformance subpackage is the one suite
// they all pass.
//
// A secret is a name with one or more key/value pairs: name/value stores
// answer {name: value}, multi-valued stores a map of their own keys.
//
// It imports only the component registry; it must not import building
// blocks, the sidecar, the resources loader or the control plane.
package secretstores
