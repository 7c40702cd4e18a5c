// Package supervisor runs an app's replicas as local processes and keeps
// them healthy the way Azure Container Apps keeps containers healthy: it
// starts each replica in its own process group, captures its stdout and
// stderr line by line, runs startup, liveness and readiness probes with
// Kubernetes semantics, restarts a replica whenever it exits (with
// CrashLoopBackOff-style backoff), and stops replicas gracefully (SIGTERM to
// the group, SIGKILL after the grace period).
//
// It receives plain ReplicaSpecs: translating ACA YAML into commands,
// environments and probes is the control plane's job. It must not import
// internal/spec or any other cove package; it reports readiness through
// Options.OnChange instead of writing the routing table itself.
//
// Process supervision needs a Unix system. On Linux the cove process should
// call SetSubreaper once at startup so that processes a replica leaves behind
// are reaped by cove rather than lingering as zombies.
package supervisor
