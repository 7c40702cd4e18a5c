// Package edge is the environment's HTTP and TCP data plane entry: the public ingress
// edge that serves external apps at <app>.<domain>, and the internal proxy that
// apps reach through HTTP_PROXY to call each other by name (http://<app>,
// <app>.internal.<domain>) and, as an ordinary forward proxy, anything else.
//
// It owns host routing (custom domains included), forwarding headers,
// upstream timeouts, upgrades and CONNECT tunnels (to TCP ports of apps
// too); least-outstanding-requests balancing across ready replicas; raw TCP
// ingress (ServeTCP: transport tcp and additionalPortMappings, with
// half-close, idle timeout, connection limits and IP rules); the HTTPS
// listener (TLS 1.2+, h2 and http/1.1 by ALPN) and h2c on the cleartext
// listeners; the upstream transport per app (HTTP/1.1,
// or h2c end to end for gRPC); and the public ingress policies ACA applies:
// the redirect to HTTPS without allowInsecure, ipSecurityRestrictions,
// corsPolicy, sticky sessions and client certificates (X-Forwarded-Client-Cert).
// It also terminates https://<app> calls that apps make through the proxy.
// It reads the live topology from internal/routing on every request and keeps
// no copy of it; certificates come from the caller (Options.Certificates).
//
// It must not import internal/spec, the sidecar, the supervisor, the control
// plane or the CLI: the control plane builds routing tables and hands the edge
// its listeners, never the other way round.
package edge
