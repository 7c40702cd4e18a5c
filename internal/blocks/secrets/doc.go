// Package secrets is Dapr's secrets building block: the protocol-agnostic
// core behind the HTTP and gRPC secrets APIs. It owns one app's named
// secret stores and their access scopes (a Dapr Configuration's
// secrets.scopes: defaultAccess, allowedSecrets, deniedSecrets) and maps
// store errors to Dapr's error codes (package daprerr).
//
// It must not import the sidecar front ends, the control plane or the
// resources loader: stores and scopes come in through Add and Options.
package secrets
