package control

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPIOverTCP serves the management API over TCP: the token, kept
// owner-only in the state directory and reused, lets a client in; no
// token or another one gets 401 with ARM's error body.
func TestAPIOverTCP(t *testing.T) {
	dir := t.TempDir()
	srv, st, err := serveAPITCP("127.0.0.1:0", dir, apiHandler(armFake(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b, err := os.ReadFile(st.TokenFile)
	if err != nil || st.TokenFile != filepath.Join(dir, APITokenFile) {
		t.Fatalf("token file %s: %v", st.TokenFile, err)
	}
	token := strings.TrimSpace(string(b))
	if info, _ := os.Stat(st.TokenFile); len(token) != 64 || info.Mode().Perm() != 0o600 {
		t.Errorf("token %q in a file of mode %v, want 64 hex digits, 0600", token, info.Mode())
	}
	if again, err := loadOrCreateToken(dir); err != nil || again != token {
		t.Errorf("second run's token %q, %v; want the first's", again, err)
	}

	c, err := NewTCPClient(st.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Status(t.Context()); err != nil || s.Name != "shop" {
		t.Errorf("status with the token: %+v, %v", s.Name, err)
	}
	var app map[string]any
	if err := c.ARM(t.Context(), "/containerApps/api", &app); err != nil || app["name"] != "api" {
		t.Errorf("ARM with the token: %v, %v", app["name"], err)
	}

	for name, header := range map[string]string{"no token": "", "another token": "Bearer nope", "basic": "Basic " + token} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, st.URL+"/v1/status", nil)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e ARMError
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusUnauthorized || e.Error.Code != "AuthenticationFailed" ||
				!strings.Contains(e.Error.Message, APITokenFile) || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%d %+v %q", resp.StatusCode, e, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	bad, _ := NewTCPClient(st.URL, "nope")
	if _, err := bad.Status(t.Context()); err == nil || !strings.Contains(err.Error(), "(AuthenticationFailed) the bearer token is not this environment's") {
		t.Errorf("a client with another token: %v", err)
	}
	if _, err := NewTCPClient("localhost:1", ""); err == nil {
		t.Error("a URL without a scheme is taken")
	}
}
