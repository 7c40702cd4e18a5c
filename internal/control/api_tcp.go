package control

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/security"
)

// The management API also serves over TCP when Options.APIAddr asks,
// for clients that cannot open the unix socket (another user, a
// container, a dashboard). The socket's access control is its file mode;
// over TCP it is a bearer token, generated once and kept in the state
// directory, readable by the environment's owner only.

// APITokenFile is the file in the state directory holding the token.
const APITokenFile = "api-token"

// APIStatus is where the management API serves over TCP.
type APIStatus struct {
	URL string `json:"url"`
	// TokenFile holds the bearer token every request must send.
	TokenFile string `json:"tokenFile"`
}

// loadOrCreateToken reads the token in dir, or writes a new one (0600).
func loadOrCreateToken(dir string) (string, error) {
	path := filepath.Join(dir, APITokenFile)
	b, err := os.ReadFile(path)
	if tok := strings.TrimSpace(string(b)); err == nil && tok != "" {
		// Whatever the file's mode became, the token is the owner's alone.
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("management API token %s: %w", path, err)
		}
		return tok, nil
	} else if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("management API token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := security.WriteAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("management API token: %w", err)
	}
	return tok, nil
}

// requireToken serves h to requests with the bearer token; the others get
// 401 with ARM's error body.
func requireToken(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if subtle.ConstantTimeCompare([]byte(got), want) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		msg := "the management API over TCP needs the environment's token: send Authorization: Bearer TOKEN, with the TOKEN in " +
			StateDirName + "/" + APITokenFile + " beside the environment file (cove's commands take --api-token or COVE_API_TOKEN)"
		if got != "" {
			msg = "the bearer token is not this environment's; its token is in " + StateDirName + "/" + APITokenFile + " beside the environment file"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="cove"`)
		writeJSON(w, http.StatusUnauthorized, ARMError{Error: ARMErrorDetail{Code: "AuthenticationFailed", Message: msg}})
	})
}

// serveAPITCP serves h over TCP on addr with the state directory's token,
// until the returned server is closed.
func serveAPITCP(addr, stateDir string, h http.Handler) (*http.Server, *APIStatus, error) {
	tok, err := loadOrCreateToken(stateDir)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("management API on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler: requireToken(tok, h), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, &APIStatus{URL: "http://" + ln.Addr().String(), TokenFile: filepath.Join(stateDir, APITokenFile)}, nil
}

// NewTCPClient returns a client of a management API served over TCP at
// base (http://host:port) with token.
func NewTCPClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("management API URL %q: want http://HOST:PORT", base)
	}
	return &Client{base: strings.TrimSuffix(base, "/"), token: token, where: base, hc: &http.Client{}}, nil
}

// newRequest is a request to the API at path, with the token when the
// client has one.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err == nil && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, err
}
