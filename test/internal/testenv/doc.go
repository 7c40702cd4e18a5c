// Package testenv holds what cove's black-box tests (test/e2e,
// test/standalone) need alike: building the cove binary once, free
// loopback ports, a buffer for a child's output, polling with a deadline,
// looking at processes in /proc, and the Dapr JavaScript SDK installed.
//
// It is for tests only and imports no cove package.
package testenv
