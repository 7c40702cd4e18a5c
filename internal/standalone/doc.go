// Package standalone runs one Dapr sidecar outside an environment, as
// daprd does, for an app started by someone else: `cove sidecar`. It owns
// what daprd's runtime does around the sidecar: loading every component
// file in the resources paths (Dapr's CRD format and ACA's, honouring
// scopes), reading the Configuration file's name resolution settings,
// opening the Dapr API listeners and the internal listener other sidecars
// call over mutual TLS, registering with name resolution (with heartbeats,
// removed on a clean exit) and resolving other app ids through it.
//
// It may import the spec parser, resources, the component registry (not
// implementations: the binary registers them through components/all), the
// building blocks, the sidecar and security; it must not import the
// control plane, the edge, the supervisor or the CLI, which is the other
// way round.
package standalone
