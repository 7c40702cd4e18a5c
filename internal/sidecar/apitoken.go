package sidecar

import (
	"crypto/subtle"
	"net/http"
	"path"
	"strings"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/daprerr"
)

// checkAPIToken enforces DAPR_API_TOKEN: with a token configured, every
// call but the health endpoints must carry it in dapr-api-token. It
// answers 401 itself and reports false when the call must stop.
func (s *Sidecar) checkAPIToken(w http.ResponseWriter, r *http.Request) bool {
	want := s.cfg.APIToken
	if want == "" || healthCheck(r) {
		return true
	}
	got := r.Header.Get(invoke.HeaderAPIToken)
	if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
		return true
	}
	msg := "authentication error: api token mismatch"
	if got == "" {
		msg = "missing api token in request header " + strings.ToLower(invoke.HeaderAPIToken)
	}
	s.writeError(w, r, daprerr.New(daprerr.Unauthorized, "%s", msg))
	return false
}

// healthCheck reports a request for the health endpoints, which stay open
// as in daprd. The path is judged as it will be routed (cleaned), and a
// request naming a target app is an invocation whatever its path.
func healthCheck(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get(invoke.HeaderAppID) != "" || strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		return false
	}
	p := path.Clean(r.URL.EscapedPath()) // as serveHTTP cleans it for routing
	return p == "/v1.0/healthz" || p == "/v1.0/healthz/outbound"
}
