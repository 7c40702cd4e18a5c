// Package netns holds Linux network namespaces open for cove and relays TCP
// connections across them: listeners opened inside a namespace whose
// connections go to addresses of the machine (an app's Dapr sidecar, the
// edge, services on the machine's loopback), and listeners on the machine
// whose connections go to a port inside (the app's). A socket belongs to the
// namespace it was created in, so cove's own process serves both sides and
// nothing runs in the namespace but the app. Without root, the namespace
// is made in a user namespace that a small holder process (cove itself)
// keeps, and that process makes the relays' sockets (see owned_linux.go).
//
// It imports no other cove package.
package netns
