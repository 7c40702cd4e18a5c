// Package invoke is Dapr's service invocation building block: the
// protocol-agnostic core behind the HTTP and gRPC invoke APIs. It resolves
// an app id to one ready replica (through a Resolver supplied by the
// caller), forwards the request to that replica's app port with the
// caller/callee identity headers Dapr adds, and hands the streamed response
// back. Errors are *daprerr.Error values with Dapr's codes.
//
// One Invoker, and with it one tuned HTTP transport, serves every sidecar
// of a process, so connections to an app are pooled across callers.
//
// It must not import the sidecar front ends, the control plane or the
// routing table: resolution is the Resolver's job.
package invoke
