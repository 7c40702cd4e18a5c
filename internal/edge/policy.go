package edge

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/h1"
	"github.com/cove-env/cove/internal/routing"
)

// policy is what the public edge's ingress policies decided for one request
// that goes on to an app.
type policy struct {
	// cors and origin are set when the response needs CORS headers.
	cors   *routing.CORS
	origin string
	// xfcc is the X-Forwarded-Client-Cert value for the app, "" for none.
	xfcc string
	// secure is true when the client came over TLS.
	secure bool
}

const (
	xfccHeader = "X-Forwarded-Client-Cert"
	// affinityCookie pins a client to a replica of an app with sticky
	// sessions. Its value is the replica name.
	affinityCookie = "cove-affinity"
)

// admit applies an app's public ingress policies in the order a request
// meets them: the client address, the scheme, the client certificate, and
// a CORS preflight, which the edge answers itself. It reports false when it
// has answered the request.
func (e *Edge) admit(w http.ResponseWriter, r *http.Request, d decision) (policy, bool) {
	var pol policy
	in := d.app.Ingress
	if in.IPRules != nil {
		addr, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !in.IPRules.Permits(addr.Addr()) {
			e.reply(w, r, http.StatusForbidden, fmt.Sprintf("client address %s may not reach app %q (ipSecurityRestrictions)", hostOf(r.RemoteAddr), d.app.Name))
			return pol, false
		}
	}
	tlsState := h1.TLS(r)
	if tlsState == nil && !in.AllowInsecure {
		if port := e.httpsPort.Load(); port != 0 {
			e.redirectHTTPS(w, r, d.host, int(port))
			return pol, false
		}
	}
	mode := in.ClientCert
	if tlsState != nil && len(tlsState.PeerCertificates) > 0 && (mode == routing.ClientCertAccept || mode == routing.ClientCertRequire) {
		pol.xfcc = xfcc(tlsState.PeerCertificates[0])
	} else if mode == routing.ClientCertRequire {
		e.reply(w, r, http.StatusForbidden, fmt.Sprintf("app %q requires a TLS client certificate (clientCertificateMode: require)", d.app.Name))
		return pol, false
	}
	if c := in.CORS; c != nil {
		if origin := r.Header.Get("Origin"); origin != "" {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				e.preflight(w, r, d.app.Name, c, origin)
				return pol, false
			}
			if originAllowed(c, origin) {
				pol.cors, pol.origin = c, origin
			}
		}
	}
	return pol, true
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// redirectHTTPS answers 301 with the same URL on the HTTPS listener, as
// ACA's ingress does for apps without allowInsecure.
func (e *Edge) redirectHTTPS(w http.ResponseWriter, r *http.Request, host string, port int) {
	target := "https://" + host
	if port != 443 {
		target += ":" + strconv.Itoa(port)
	}
	target += r.URL.RequestURI()
	http.Redirect(w, r, target, http.StatusMovedPermanently)
	e.logRequest(r.Context(), r, &hop{status: http.StatusMovedPermanently}, time.Time{})
}

// xfcc renders a client certificate as Envoy's X-Forwarded-Client-Cert
// element, which ACA passes to apps: the SHA-256 of the DER certificate and
// the URL-escaped PEM.
func xfcc(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	// Path-style escaping (spaces as %20) so both query and path decoders
	// give the PEM back.
	esc := strings.ReplaceAll(url.QueryEscape(string(p)), "+", "%20")
	return fmt.Sprintf(`Hash=%s;Cert="%s"`, hex.EncodeToString(sum[:]), esc)
}

// stickyEndpoint returns the replica the request's affinity cookie names,
// if it is still ready.
func stickyEndpoint(r *http.Request, app *routing.App) (routing.Endpoint, bool) {
	c, err := r.Cookie(affinityCookie)
	if err != nil || c.Value == "" {
		return routing.Endpoint{}, false
	}
	return app.Endpoint(c.Value)
}

func setAffinityCookie(h http.Header, replica string, secure bool) {
	c := &http.Cookie{
		Name:     affinityCookie,
		Value:    replica,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	h.Add("Set-Cookie", c.String())
}

// originAllowed matches an Origin against the policy: "*", an exact origin
// (case-insensitive), or a pattern with one "*" such as
// https://*.example.com, where the star stands for one or more host labels.
func originAllowed(c *routing.CORS, origin string) bool {
	origin = strings.ToLower(origin)
	for _, o := range c.AllowedOrigins {
		o = strings.ToLower(strings.TrimSuffix(o, "/"))
		if o == "*" || o == origin {
			return true
		}
		pre, suf, ok := strings.Cut(o, "*")
		if !ok || len(origin) <= len(pre)+len(suf) {
			continue
		}
		if mid, ok := strings.CutPrefix(origin, pre); ok {
			if mid, ok = strings.CutSuffix(mid, suf); ok && mid != "" && !strings.ContainsAny(mid, "/:@") {
				return true
			}
		}
	}
	return false
}

// allowOriginValue is the Access-Control-Allow-Origin for an allowed origin:
// "*" only when the policy allows any origin without credentials, since
// browsers refuse "*" on credentialed requests.
func allowOriginValue(c *routing.CORS, origin string) string {
	for _, o := range c.AllowedOrigins {
		if o == "*" && !c.AllowCredentials {
			return "*"
		}
	}
	return origin
}

// preflight answers a CORS preflight at the edge, as ACA does; the app never
// sees it. A disallowed origin gets 403 without CORS headers, so the browser
// blocks the real request.
func (e *Edge) preflight(w http.ResponseWriter, r *http.Request, app string, c *routing.CORS, origin string) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !originAllowed(c, origin) {
		e.reply(w, r, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed by app %q's corsPolicy", origin, app))
		return
	}
	h.Set("Access-Control-Allow-Origin", allowOriginValue(c, origin))
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if v := listOrEcho(c.AllowedMethods, r.Header.Get("Access-Control-Request-Method"), c.AllowCredentials); v != "" {
		h.Set("Access-Control-Allow-Methods", v)
	}
	if v := listOrEcho(c.AllowedHeaders, r.Header.Get("Access-Control-Request-Headers"), c.AllowCredentials); v != "" {
		h.Set("Access-Control-Allow-Headers", v)
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
	}
	w.WriteHeader(http.StatusNoContent)
	e.logRequest(r.Context(), r, &hop{app: app, status: http.StatusNoContent}, time.Time{})
}

// listOrEcho joins a configured list. A "*" in it is sent as is, except
// with credentials, where browsers read it literally, so the requested
// value is echoed instead.
func listOrEcho(list []string, requested string, credentials bool) string {
	for _, v := range list {
		if v == "*" && credentials {
			return requested
		}
	}
	return strings.Join(list, ", ")
}

// corsResponseHeaders puts the policy's headers on an app's response to an
// allowed cross-origin request, replacing any the app set itself.
func corsResponseHeaders(h http.Header, c *routing.CORS, origin string) {
	h.Set("Access-Control-Allow-Origin", allowOriginValue(c, origin))
	h.Add("Vary", "Origin")
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if len(c.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ", "))
	}
}
