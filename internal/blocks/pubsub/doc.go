// Package pubsub is Dapr's publish/subscribe building block: the
// protocol-agnostic core behind the HTTP and gRPC publish APIs and the
// delivery of events to the app. It wraps published data in CloudEvents
// exactly as daprd does, checks a component's topic scopes
// (publishingScopes, subscriptionScopes, allowedTopics, protectedTopics),
// and maps broker errors to Dapr's error codes (package daprerr).
//
// It must not import the sidecar front ends, the control plane or the
// resources loader: brokers come in through Add.
package pubsub
