package control

import (
	"fmt"
	"net/http"
	"testing"
)

// TestInternalProxyReach checks what the internal proxy forwards to this
// machine: plain HTTP to the replicas' and sidecars' ports (an app calling
// its sidecar as localhost through HTTP_PROXY), nothing else, and no
// CONNECT tunnel to a sidecar's port.
func TestInternalProxyReach(t *testing.T) {
	st, client := runWebAndFront(t, t.TempDir())
	front := appStatus(t, client, "front").Replicas[0]
	web := appStatus(t, client, "web").Replicas[0]

	for url, want := range map[string]int{
		fmt.Sprintf("http://localhost:%d/v1.0/healthz/outbound", front.DaprHTTPPort): http.StatusNoContent,
		fmt.Sprintf("http://127.0.0.1:%d/env", web.Port):                             http.StatusOK,
		"http://web/env": http.StatusOK,
		fmt.Sprintf("http://localhost:%s/", portOf(st.Edge.HTTP)):     http.StatusForbidden,
		fmt.Sprintf("http://127.0.0.1:%s/", portOf(st.Edge.Internal)): http.StatusForbidden,
		fmt.Sprintf("http://localhost:%d/", front.DaprGRPCPort):       http.StatusForbidden,
	} {
		if code, body := proxyGet(t, st.Edge.Internal, url); code != want {
			t.Errorf("GET %s through the proxy: %d %q, want %d", url, code, body, want)
		}
	}
	for _, authority := range []string{
		fmt.Sprintf("localhost:%d", front.DaprGRPCPort),
		fmt.Sprintf("127.0.0.1:%d", front.DaprHTTPPort),
		fmt.Sprintf("127.0.0.1:%d", web.Port),
	} {
		if code, _ := connectExchange(t, st.Edge.Internal, authority, "ping"); code != http.StatusForbidden {
			t.Errorf("CONNECT %s: %d, want 403", authority, code)
		}
	}
}
