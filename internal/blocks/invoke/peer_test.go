package invoke_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/blocks/invoke"
)

// roundTripFunc is a RoundTripper standing in for the own app.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPeerTransportRoutesByCallee(t *testing.T) {
	peer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "peer "+r.Proto+" "+r.URL.Path)
	}))
	peer.EnableHTTP2 = true
	peer.StartTLS()
	t.Cleanup(peer.Close)
	host := strings.TrimPrefix(peer.URL, "https://")

	local := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("local " + r.URL.Scheme)), Header: http.Header{}}, nil
	})
	var verified []string
	verify := func(cs *tls.ConnectionState, appID string) error {
		verified = append(verified, appID)
		if cs == nil || cs.NegotiatedProtocol != "h2" {
			return errors.New("not h2 over TLS")
		}
		if appID == "impostor" {
			return errors.New("peer is someone else")
		}
		return nil
	}
	tr, err := invoke.NewPeerTransport(invoke.PeerTransportOptions{
		Self: "me", Local: local, VerifyPeer: verify,
		TLS: &tls.Config{RootCAs: peer.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)

	tests := []struct {
		name, callee, want, errContains string
	}{
		{name: "own app goes local", callee: "me", want: "local http"},
		{name: "no callee goes local", callee: "", want: "local http"},
		{name: "other app goes to its sidecar over h2 and TLS", callee: "orders", want: "peer HTTP/2.0 /x"},
		{name: "a peer failing verification is an error", callee: "impostor", errContains: "someone else"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+host+"/x", nil)
			if tc.callee != "" {
				req.Header.Set(invoke.HeaderCalleeAppID, tc.callee)
			}
			resp, err := tr.RoundTrip(req)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("RoundTrip error %v; want one containing %q", err, tc.errContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.want {
				t.Errorf("answer %q, want %q", b, tc.want)
			}
		})
	}
	if len(verified) != 2 {
		t.Errorf("peer verified %d times (%v), want once per remote call", len(verified), verified)
	}
}

func TestNewPeerTransportNeedsIdentity(t *testing.T) {
	if _, err := invoke.NewPeerTransport(invoke.PeerTransportOptions{Self: "me"}); err == nil {
		t.Error("NewPeerTransport without TLS and verification succeeded")
	}
}
