// Package resiliency is the runtime of Dapr's Resiliency policies: per-attempt
// timeouts, constant and exponential retries filtered by HTTP status and gRPC
// code, and circuit breakers whose trip condition is a CEL expression over
// the breaker's counts, as daprd evaluates it.
//
// The types here are the validated, runtime form; internal/spec parses the
// Resiliency resource and the control plane builds policies from it. Run
// drives one operation through a Policy; callers decide what a failed
// attempt is (a transport error, or a StatusError carrying an app's status)
// and whether its request can be replayed.
//
// Service invocation (app targets) and the state building block (state
// store component targets, outbound) run their calls through it.
//
// It must not import any other cove package.
package resiliency
