// Package testenv holds what cove's black-box tests (test/e2e,
// test/standalone) need alike: building the cove binary once, free
// loopback ports, a buffer for a child's output, polling with a deadline,
// and looking at processes in /proc.
//
// It is for tests only and imports no cove package.
package testenv
