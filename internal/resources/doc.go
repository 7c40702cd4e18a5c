// Package resources turns parsed Dapr resources (package spec) into the
// runtime objects sidecars use. Components of every kind go through one
// lifecycle (Load): constructed from the registry, secret stores first, their
// metadata resolved (values, the ACA format's own secrets, envRef,
// references into a secret store loaded before them), initialised within
// initTimeout, skipped with a warning when they fail and say ignoreErrors,
// all closed when one fails without it; blocks reach a kind through its
// interface (Of). Name resolution, which a Configuration names rather than a
// component file, goes through the same steps (Init). It also gives a Configuration's access control as
// invoke.AccessControl and the resiliency policies Resiliency resources give
// each caller and target. Both the environment (package control) and the
// standalone sidecar (package standalone) load resources through it, so the
// two read a resource the same way.
//
// It may import spec, the component registry and interfaces, the invoke
// building block and resiliency; it must not import the sidecar, the edge,
// the supervisor, the control plane, the standalone sidecar or the CLI.
package resources
