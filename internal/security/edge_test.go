package security

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestEdgeCertsCustomDomains(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.EdgeCerts("localhost")
	if err != nil {
		t.Fatal(err)
	}
	given, err := ca.Issue(Leaf{DNSNames: []string{"shop.example.com"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	certs.SetCustomDomains(map[string]*tls.Certificate{"Shop.Example.com": given, "api.example.com": nil})

	tests := []struct {
		name       string
		serverName string
		wantGiven  bool
		verifyAs   string
	}{
		{name: "given certificate, any case", serverName: "SHOP.example.com.", wantGiven: true, verifyAs: "shop.example.com"},
		{name: "issued by the CA for a domain without one", serverName: "api.example.com", verifyAs: "api.example.com"},
		{name: "other names get the default", serverName: "other.example.com", verifyAs: "web.localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := certs.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.serverName})
			if err != nil {
				t.Fatal(err)
			}
			if (c == given) != tt.wantGiven {
				t.Errorf("got the given certificate: %t, want %t", c == given, tt.wantGiven)
			}
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tt.verifyAs, Roots: ca.Pool()}); err != nil {
				t.Errorf("certificate for %q does not verify as %q: %v", tt.serverName, tt.verifyAs, err)
			}
		})
	}

	// Replacing the set drops domains no longer listed.
	certs.SetCustomDomains(nil)
	c, err := certs.GetCertificate(&tls.ClientHelloInfo{ServerName: "shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if c != certs.Default() {
		t.Error("a removed custom domain still gets its own certificate")
	}
}
