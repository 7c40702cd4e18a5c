// Package control is cove's control plane: it turns a loaded environment
// (package spec) into running apps. It loads components, builds revisions,
// allocates ports, starts replica processes (package supervisor) with their
// sidecars (package sidecar), keeps the routing table (package routing) in
// step with replica readiness for the edge (package edge), opens the edge's
// TCP listeners, reloads ingress settings from the environment file while
// replicas run (reload.go), and serves the management API on a unix socket
// under the environment's .cove directory.
//
// Run builds the plane the environment runs on (plane.go: state directory,
// socket, CA, listeners, edge, supervisor), hands it to the controller, Env
// (env.go, apps.go, revisions.go, reload.go), and serves the management API
// (api.go), which reaches Env only through the managed interface.
//
// It is the only package that knows all the data plane packages; they must
// not import it. The CLI is its only importer.
package control
