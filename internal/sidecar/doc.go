// Package sidecar is the Dapr sidecar of one app replica: it owns the
// replica's Dapr HTTP API (wire-compatible with daprd's), its view of the
// app (address, protocol, readiness), its metadata, and the resolver that
// maps Dapr app ids to ready replicas through the routing table. Many
// sidecars live in one cove process; each has its own listener.
//
// The HTTP front end lives here; the gRPC front end is the subpackage
// grpcapi, which the sidecar starts and stops beside it on its own
// listener and which consumes the same building blocks through its own
// small interfaces. Building blocks are reached through interfaces defined
// here (StateAPI, Invoker) so front ends never depend on their internals;
// what both front ends must do alike lives in one shared place
// (statevalue for state values, Metadata for the metadata report).
//
// Standalone sidecars (cove sidecar) also use the peer side kept here:
// PeerTLS (workload certificate, SPIFFE identity checks), PeerServer (the
// internal listener peers invoke over HTTP/2 with mutual TLS, taking the
// caller's id from its certificate; HTTP invocations go to the app through
// the invoker, raw gRPC calls through grpcapi's proxy) and NameResolver
// (own app locally, other app ids through name resolution).
//
// It must not import the control plane, the edge or the supervisor:
// they construct sidecars, not the other way round.
package sidecar
