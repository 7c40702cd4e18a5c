package edge

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cove-env/cove/internal/routing"
)

// verdict is what a listener does with a request once its host is known.
type verdict int

const (
	// notFound answers 404 with decision.reason.
	notFound verdict = iota
	// toApp proxies to a ready replica of decision.app.
	toApp
	// noReplica answers 503: the app exists and is reachable but nothing is ready.
	noReplica
	// listing answers 404 with the list of external apps (a bare host on the public edge).
	listing
	// forward proxies to the host itself (internal proxy only).
	forward
)

func (v verdict) String() string {
	switch v {
	case notFound:
		return "notFound"
	case toApp:
		return "toApp"
	case noReplica:
		return "noReplica"
	case listing:
		return "listing"
	case forward:
		return "forward"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// decision is the routing outcome for one request host. It is computed from
// an immutable table, so handlers may act on it without re-checking.
type decision struct {
	verdict verdict
	// host is the normalised host name (lower case, no port, no trailing dot).
	host string
	// port is the port from the Host, "" when there was none.
	port string
	app  *routing.App
	// target is the container target port behind a TCP port the request
	// named (<app>:<exposedPort>); 0 for the app's main HTTP port.
	target int
	// reason is the 404 body.
	reason string
}

// splitHost normalises a Host header or authority: lower case, without the
// port, IPv6 brackets or a trailing dot. port is "" when absent.
func splitHost(hostport string) (host, port string) {
	host = hostport
	// Without a colon there is no port to split off (and no error to make).
	if strings.IndexByte(hostport, ':') >= 0 {
		var err error
		if host, port, err = net.SplitHostPort(hostport); err != nil {
			// Not a host:port: the whole value is the host.
			host, port = hostport, ""
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host, port
}

// label returns name when host is exactly "<name>.<suffix>" with a single
// DNS label as name.
func label(host, suffix string) (string, bool) {
	name, ok := strings.CutSuffix(host, "."+suffix)
	if !ok || name == "" || strings.Contains(name, ".") {
		return "", false
	}
	return name, true
}

// isBare reports whether host names the edge itself rather than an app: the
// environment domain, localhost or an IP literal. Developers land there first,
// so it gets the list of apps.
func isBare(host, domain string) bool {
	if host == domain || host == "localhost" {
		return true
	}
	// Names are the common case: parse only what may be an address.
	if host == "" || !(host[0] >= '0' && host[0] <= '9' || strings.IndexByte(host, ':') >= 0) {
		return false
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// publicRoute decides where a request reaching the public edge goes. Only
// <app>.<domain> of an app with external ingress is served; the port is
// ignored because the edge may listen on any port.
func publicRoute(t *routing.Table, domain, hostport string) decision {
	host, port := splitHost(hostport)
	d := decision{host: host, port: port}
	if isBare(host, domain) {
		d.verdict = listing
		return d
	}
	if app, ok := t.CustomDomain(host); ok {
		return publicApp(d, app, host)
	}
	if _, ok := label(host, "internal."+domain); ok {
		d.reason = fmt.Sprintf("host %q is an internal name, reachable only from apps inside the environment", host)
		return d
	}
	name, ok := label(host, domain)
	if !ok {
		d.reason = fmt.Sprintf("no app is served at host %q (apps are at <app>.%s)", host, domain)
		return d
	}
	app, ok := t.App(name)
	if !ok {
		d.reason = fmt.Sprintf("no app named %q in this environment (host %q)", name, host)
		return d
	}
	return publicApp(d, app, host)
}

// publicApp applies the public edge's checks once the app is known.
func publicApp(d decision, app *routing.App, host string) decision {
	name := app.Name
	switch {
	case app.Ingress == nil:
		d.reason = fmt.Sprintf("app %q has ingress disabled (host %q)", name, host)
	case !app.Ingress.External:
		d.reason = fmt.Sprintf("app %q has internal ingress only (external: false); other apps reach it at http://%s", name, name)
	case app.Ingress.IsTCP():
		d.reason = fmt.Sprintf("app %q has transport tcp; connect to port %d of the edge's address instead", name, app.Ingress.ExposedPort)
	case len(app.Endpoints) == 0:
		d.verdict, d.app = noReplica, app
	default:
		d.verdict, d.app = toApp, app
	}
	return d
}

// internalRoute decides where a request reaching the internal proxy goes.
// <app>, <app>.internal.<domain>, <app>.<domain> and custom domains name any
// app with ingress;
// other names under the domain are 404 as in ACA, and everything else is
// forwarded as an ordinary proxy would.
func internalRoute(t *routing.Table, domain, hostport string) decision {
	host, port := splitHost(hostport)
	d := decision{host: host, port: port}
	if host == "" {
		d.reason = "request has no host"
		return d
	}
	// A custom domain is served from inside as from outside, without a
	// round trip through the public address it resolves to.
	if app, ok := t.CustomDomain(host); ok {
		return appDecision(d, app, true)
	}
	var name string
	inEnv, publicName := false, false
	if n, ok := label(host, "internal."+domain); ok {
		name, inEnv = n, true
	} else if n, ok := label(host, domain); ok {
		name, inEnv, publicName = n, true, true
	} else if !strings.ContainsAny(host, ".:") {
		name = host
	}
	if name != "" {
		if app, ok := t.App(name); ok {
			return appDecision(d, app, publicName)
		}
	}
	if inEnv {
		d.reason = fmt.Sprintf("no app named %q in this environment (host %q)", name, host)
		return d
	}
	d.verdict = forward
	return d
}

// appDecision applies an internal call's checks once the app is known. Port
// 80, 443 (HTTPS, terminated by the edge), no port or the app's target port
// reach the main HTTP port; an exposed TCP port (a tcp app's exposedPort or
// an additionalPortMappings entry, internal or external) reaches the
// replica's port for that target. A public name (<app>.<domain>) ignores
// the port as the public edge does, so an app that calls another by its
// public URL, edge port included, reaches it too.
func appDecision(d decision, app *routing.App, anyPort bool) decision {
	in := app.Ingress
	if in == nil {
		d.reason = fmt.Sprintf("app %q has ingress disabled (host %q)", app.Name, d.host)
		return d
	}
	httpPort := d.port == "" || d.port == "80" || d.port == "443" ||
		(in.TargetPort > 0 && d.port == strconv.Itoa(in.TargetPort))
	if !anyPort && d.port != "" && (!httpPort || in.IsTCP()) {
		if p, err := strconv.Atoi(d.port); err == nil {
			if target, ok := in.TCPTarget(p, true); ok {
				d.target = target
			}
		}
	}
	switch {
	case d.target != 0:
	case in.IsTCP():
		d.reason = fmt.Sprintf("app %q has transport tcp; connect to %s:%d", app.Name, app.Name, in.ExposedPort)
		return d
	case !anyPort && !httpPort:
		d.reason = fmt.Sprintf("app %q does not expose port %s; call it on port 80 (http://%s)", app.Name, d.port, app.Name)
		return d
	}
	if len(app.Endpoints) == 0 {
		d.verdict, d.app = noReplica, app
	} else {
		d.verdict, d.app = toApp, app
	}
	return d
}
