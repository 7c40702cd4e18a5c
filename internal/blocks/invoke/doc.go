// Package invoke is Dapr's service invocation building block: the
// protocol-agnostic core behind the HTTP and gRPC invoke APIs. It resolves
// an app id to one ready replica (through a Resolver supplied by the
// caller), forwards the request to that replica's app port with the
// caller/callee identity headers Dapr adds, and hands the streamed response
// back. Errors are *daprerr.Error values with Dapr's codes.
//
// Apps speaking gRPC (Dapr's appProtocol grpc) are called on their
// AppCallback/OnInvoke, with HTTP-shaped invocations translated both ways
// as daprd translates them; InvokeMessage serves the gRPC API's shape and
// DialApp hands out connections for transparent gRPC proxying.
//
// One Invoker, and with it one tuned HTTP transport and one pool of gRPC
// client connections (one per replica address, closed when idle), serves
// every sidecar of a process, so connections to an app are shared across
// callers.
//
// PeerTransport carries a standalone sidecar's calls: to its own app as
// they are, to other apps' sidecars over HTTP/2 with mutual TLS.
//
// It must not import the sidecar front ends, the control plane or the
// routing table: resolution is the Resolver's job.
package invoke
