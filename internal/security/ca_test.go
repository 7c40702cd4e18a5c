package security

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ca.CertPath(), filepath.Join(dir, DirName, CertFile); got != want {
		t.Errorf("CertPath = %s, want %s", got, want)
	}
	st, err := os.Stat(filepath.Join(dir, DirName, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %o, want 600", perm)
	}
	if !ca.Certificate().IsCA {
		t.Error("CA certificate is not a CA")
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.CertPEM(), again.CertPEM()) {
		t.Error("second run created a new CA instead of loading the first")
	}
}

func TestLoadOrCreateBroken(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"key missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, DirName, KeyFile))
		}, "incomplete"},
		{"certificate missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, DirName, CertFile))
		}, "incomplete"},
		{"certificate not PEM", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, DirName, CertFile), []byte("junk"), 0o644)
		}, "no PEM certificate"},
		{"key of another CA", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := LoadOrCreate(other); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, DirName, KeyFile))
			os.WriteFile(filepath.Join(dir, DirName, KeyFile), b, 0o600)
		}, "does not belong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreate(dir); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir)
			_, err := LoadOrCreate(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEdgeCerts(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ca.EdgeCerts("localhost")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		sni        string
		verifyAs   string
		wantShared bool // the default certificate rather than one of its own
	}{
		{name: "public app name", sni: "web.localhost", verifyAs: "web.localhost"},
		{name: "internal name", sni: "api.internal.localhost", verifyAs: "api.internal.localhost"},
		{name: "bare app name", sni: "api", verifyAs: "api"},
		{name: "upper case", sni: "Web.LOCALHOST", verifyAs: "web.localhost"},
		{name: "no server name", sni: "", verifyAs: "127.0.0.1", wantShared: true},
		{name: "localhost", sni: "localhost", verifyAs: "localhost", wantShared: true},
		{name: "foreign name", sni: "example.com", verifyAs: "web.localhost", wantShared: true},
		{name: "not a host name", sni: "we_b.localhost", verifyAs: "127.0.0.1", wantShared: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ec.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			if err != nil {
				t.Fatal(err)
			}
			if shared := c == ec.Default(); shared != tt.wantShared {
				t.Errorf("shared default certificate = %v, want %v", shared, tt.wantShared)
			}
			_, err = c.Leaf.Verify(x509.VerifyOptions{DNSName: tt.verifyAs, Roots: ca.Pool()})
			if err != nil {
				t.Errorf("verify as %q: %v", tt.verifyAs, err)
			}
			again, _ := ec.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			if again != c {
				t.Error("a second handshake minted a new certificate")
			}
		})
	}
}

func TestIssueWorkload(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueWorkload("public", "default", "orders")
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, u := range c.Leaf.URIs {
		uris = append(uris, u.String())
	}
	if diff := cmp.Diff([]string{"spiffe://public/ns/default/orders"}, uris); diff != "" {
		t.Errorf("URIs (-want +got):\n%s", diff)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
	}
	if _, err := ca.IssueWorkload("public", "", "orders"); err == nil {
		t.Error("a workload certificate without namespace was issued")
	}
}

func TestWriteBundle(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(t.TempDir(), "roots.pem")
	other, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roots, other.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", roots)
	path, err := ca.WriteBundle()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("bundle holds no certificate")
	}
	for name, c := range map[string]*CA{"environment CA": ca, "inherited root": other} {
		leaf, err := c.Issue(Leaf{DNSNames: []string{"x.test"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "x.test", Roots: pool}); err != nil {
			t.Errorf("bundle does not trust the %s: %v", name, err)
		}
	}
}
