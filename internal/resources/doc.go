// Package resources turns parsed Dapr resources (package spec) into the
// runtime objects sidecars use: secret store and state store components
// constructed from the registry, their metadata resolved (values, the ACA
// format's own secrets, envRef, references into a secret store loaded
// before them) and initialised within initTimeout; a Configuration's
// access control as invoke.AccessControl; and the resiliency policies
// Resiliency resources give each caller and target. Both the environment
// (package control) and the standalone sidecar (package standalone) load
// resources through it, so the two read a resource the same way.
//
// It may import spec, the component registry and interfaces, the invoke
// building block and resiliency; it must not import the sidecar, the edge,
// the supervisor, the control plane, the standalone sidecar or the CLI.
package resources
