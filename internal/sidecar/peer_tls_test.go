package sidecar_test

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/sidecar"
)

func TestPeerIdentity(t *testing.T) {
	tests := []struct {
		name        string
		uris        []string
		ns, app     string
		errContains string
	}{
		{name: "dapr form", uris: []string{"spiffe://public/ns/default/orders"}, ns: "default", app: "orders"},
		{name: "first matching of several", uris: []string{"https://example.com/x", "spiffe://other/ns/a/b", "spiffe://public/ns/prod/cart"}, ns: "prod", app: "cart"},
		{name: "no SPIFFE ID", uris: []string{"https://example.com/ns/default/orders"}, errContains: "no SPIFFE ID"},
		{name: "no URI at all", errContains: "no SPIFFE ID"},
		{name: "another trust domain", uris: []string{"spiffe://evil/ns/default/orders"}, errContains: "is not spiffe://public/"},
		{name: "missing namespace", uris: []string{"spiffe://public/orders"}, errContains: "is not spiffe://public/"},
		{name: "extra segment", uris: []string{"spiffe://public/ns/default/orders/x"}, errContains: "is not spiffe://public/"},
		{name: "empty app id", uris: []string{"spiffe://public/ns/default/"}, errContains: "is not spiffe://public/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert := &x509.Certificate{}
			for _, u := range tc.uris {
				parsed, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				cert.URIs = append(cert.URIs, parsed)
			}
			ns, app, err := sidecar.PeerIdentity("public", cert)
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("PeerIdentity = %q, %q, %v; want an error containing %q", ns, app, err, tc.errContains)
				}
				return
			}
			if err != nil || ns != tc.ns || app != tc.app {
				t.Errorf("PeerIdentity = %q, %q, %v; want %q, %q", ns, app, err, tc.ns, tc.app)
			}
		})
	}
}
