package security

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// maxEdgeNames bounds the per-name certificates an EdgeCerts keeps, so
// clients sending ever new server names cannot grow it without limit.
const maxEdgeNames = 4096

// EdgeCerts hands the edge's TLS listeners a certificate per server name.
// Names under the environment domain and bare app names get a certificate
// for exactly that name, minted on first use: some TLS clients (OpenSSL,
// hence curl) refuse a wildcard directly under a single-label domain such
// as *.localhost. Any other name gets the default certificate, which covers
// *.<domain>, *.internal.<domain>, <domain>, localhost, 127.0.0.1 and ::1.
type EdgeCerts struct {
	ca     *CA
	domain string
	def    *tls.Certificate

	mu     sync.Mutex
	byName map[string]*tls.Certificate
	// custom are the apps' custom domains (SniEnabled bindings): a
	// certificate given for the name, or nil to issue one from the CA.
	custom map[string]*tls.Certificate
}

// EdgeCerts issues the default edge certificate for domain and returns the
// source of the edge's certificates.
func (c *CA) EdgeCerts(domain string) (*EdgeCerts, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if domain == "" {
		domain = "localhost"
	}
	names := []string{"*." + domain, "*.internal." + domain, domain}
	if domain != "localhost" {
		names = append(names, "localhost")
	}
	def, err := c.Issue(Leaf{
		CommonName: "*." + domain,
		DNSNames:   names,
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Server:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("edge certificate: %w", err)
	}
	return &EdgeCerts{ca: c, domain: domain, def: def, byName: map[string]*tls.Certificate{}}, nil
}

// Default returns the certificate for clients that send no server name.
func (e *EdgeCerts) Default() *tls.Certificate { return e.def }

// SetCustomDomains replaces the custom domains served by SNI. A domain
// mapped to a certificate is served with it; a domain mapped to nil gets a
// certificate issued by the environment CA on first use, for local
// development without the real one. Names are matched case-insensitively.
func (e *EdgeCerts) SetCustomDomains(domains map[string]*tls.Certificate) {
	m := make(map[string]*tls.Certificate, len(domains))
	for name, c := range domains {
		m[strings.TrimSuffix(strings.ToLower(name), ".")] = c
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.custom = m
}

// GetCertificate is a tls.Config.GetCertificate.
func (e *EdgeCerts) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	e.mu.Lock()
	defer e.mu.Unlock()
	custom, isCustom := e.custom[name]
	if custom != nil {
		return custom, nil
	}
	if !isCustom && !e.ownName(name) {
		return e.def, nil
	}
	if c, ok := e.byName[name]; ok {
		return c, nil
	}
	if len(e.byName) >= maxEdgeNames {
		return e.def, nil
	}
	c, err := e.ca.Issue(Leaf{DNSNames: []string{name}, Server: true})
	if err != nil {
		return nil, fmt.Errorf("edge certificate for %q: %w", name, err)
	}
	e.byName[name] = c
	return c, nil
}

// ownName reports whether name is one the environment serves and may get a
// certificate of its own: a bare app name or a name under the domain.
func (e *EdgeCerts) ownName(name string) bool {
	if name == "" || len(name) > 253 || name == e.domain || name == "localhost" {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !dnsLabel(l) {
			return false
		}
	}
	return len(labels) == 1 || strings.HasSuffix(name, "."+e.domain)
}

func dnsLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// systemRoots are where Linux distributions and macOS keep their trust
// bundle; the first that exists is used.
var systemRoots = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
	"/etc/ssl/cert.pem",                                 // macOS, Alpine
}

// WriteBundle writes the trust bundle replicas get as SSL_CERT_FILE: the
// roots this process trusts (its own SSL_CERT_FILE, else the system bundle)
// followed by the CA certificate, so replicas trust both the internet and
// the environment. It returns the bundle's path.
func (c *CA) WriteBundle() (string, error) {
	var roots []byte
	candidates := systemRoots
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		candidates = append([]string{f}, candidates...)
	}
	path := filepath.Join(c.dir, BundleFile)
	for _, f := range candidates {
		if f == path {
			continue // inherited from a cove run inside an environment
		}
		if b, err := os.ReadFile(f); err == nil {
			roots = b
			break
		}
	}
	var out []byte
	out = append(out, roots...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, "# cove environment CA\n"...)
	out = append(out, c.certPEM...)
	if err := WriteAtomic(path, out, 0o644); err != nil {
		return "", fmt.Errorf("trust bundle: %w", err)
	}
	return path, nil
}
