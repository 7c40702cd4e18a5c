// Package grpcapi is the sidecar's Dapr gRPC API: the
// dapr.proto.runtime.v1.Dapr service (service invocation, state, metadata,
// shutdown) on Dapr's generated types, and the transparent proxy that
// forwards any other service's calls carrying dapr-app-id metadata to that
// app's gRPC server frame by frame. The same proxy serves the gRPC side of
// a standalone sidecar's internal listener (PeerServer), where peer
// sidecars forward such calls for the own app and the caller is the one
// their certificate names.
//
// It reaches the building blocks through its own small interfaces
// (StateAPI, Invoker) and the sidecar through Host, so it never imports the
// sidecar package (which imports it), the control plane, the edge or the
// supervisor. Errors become gRPC statuses in one place (toStatus), with the
// codes and messages of the daprerr catalog.
package grpcapi
