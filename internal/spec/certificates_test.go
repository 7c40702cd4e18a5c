package spec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"testing"
	"time"
)

// testKeyPair returns a PEM certificate for name and its PEM key.
func testKeyPair(t *testing.T, name string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

func TestCertificates(t *testing.T) {
	certA, keyA := testKeyPair(t, "a.example.com")
	certB, _ := testKeyPair(t, "b.example.com")
	t.Run("valid", func(t *testing.T) {
		env, probs := loadIn(t, map[string]string{
			"cove.yaml":       "apps: [{file: b.yaml, command: run}]\ncertificates:\n  - {name: shop, certFile: tls/a.crt, keyFile: tls/a.key}\n",
			"b.yaml":          backendApp,
			"tls/a.crt":       certA,
			"tls/a.key":       keyA,
			"tls/unused.file": "",
		})
		if env == nil {
			t.Fatalf("load failed: %v", probs)
		}
		for _, id := range []string{"shop", "/subscriptions/0/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/env/certificates/shop"} {
			c, ok := env.Certificate(id)
			if !ok {
				t.Fatalf("Certificate(%q) not found", id)
			}
			if !filepath.IsAbs(c.CertFile) || filepath.Base(c.KeyFile) != "a.key" {
				t.Errorf("Certificate(%q) = %+v; want absolute paths", id, c)
			}
		}
		if _, ok := env.Certificate("other"); ok {
			t.Error("Certificate(other) found")
		}
	})
	t.Run("problems", func(t *testing.T) {
		_, probs := loadIn(t, map[string]string{
			"cove.yaml": y(`
apps: [{file: b.yaml, command: run}]
certificates:
  - {name: shop, certFile: a.crt, keyFile: a.key}
  - {name: shop, certFile: a.crt, keyFile: a.key}
  - {certFile: a.crt}
  - {name: mismatched, certFile: b.crt, keyFile: a.key}
`),
			"b.yaml": backendApp,
			"a.crt":  certA,
			"a.key":  keyA,
			"b.crt":  certB,
		})
		checkFileProblems(t, "errors", probs, []string{
			"cove.yaml:4:6 certificates[1].name: already used at line 3",
			"cove.yaml:5:5 certificates[2].name: required",
			"cove.yaml:5:5 certificates[2].keyFile: required",
			"cove.yaml:6:24 certificates[3].certFile: private key does not match",
		})
	})
}
