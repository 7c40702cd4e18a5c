// Package e2e holds black-box tests: they build the cove binary, run it on
// the example environments and drive it from outside with the CLI, curl and
// plain HTTP clients, as a user would.
package e2e
