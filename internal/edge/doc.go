// Package edge is the environment's HTTP data plane entry: the public ingress
// edge that serves external apps at <app>.<domain>, and the internal proxy that
// apps reach through HTTP_PROXY to call each other by name (http://<app>,
// <app>.internal.<domain>) and, as an ordinary forward proxy, anything else.
//
// It owns host routing, forwarding headers, upstream timeouts, upgrades and
// CONNECT tunnels. It reads the live topology from internal/routing on every
// request and keeps no copy of it.
//
// It must not import internal/spec, the sidecar, the supervisor, the control
// plane or the CLI: the control plane builds routing tables and hands the edge
// its listeners, never the other way round.
package edge
