package security

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// File layout of the CA inside the state directory.
const (
	// DirName is the CA's directory inside the environment's state
	// directory.
	DirName = "ca"
	// CertFile is the CA certificate, PEM; this is the file users trust.
	CertFile = "ca.crt"
	// KeyFile is the CA's private key, PEM, readable by the owner only.
	KeyFile = "ca.key"
	// BundleFile is the system roots plus the CA certificate, for
	// SSL_CERT_FILE.
	BundleFile = "bundle.crt"
)

// Validity periods. The CA lives long because users add it to trust
// stores; leaves are issued in memory on every run, so they can be short.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 90 * 24 * time.Hour
	// backdate tolerates clocks that differ a little between processes.
	backdate = time.Hour
)

// CA is an environment's certificate authority. It is safe for concurrent
// use.
type CA struct {
	dir     string
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// LoadOrCreate loads the CA kept under stateDir/ca, creating it (ECDSA
// P-256, key file mode 0600) when it does not exist yet. A half-written CA
// (a certificate without its key or the reverse) is an error rather than
// silently replaced, since users may already trust the old certificate.
func LoadOrCreate(stateDir string) (*CA, error) {
	return LoadOrCreateDir(filepath.Join(stateDir, DirName))
}

// LoadOrCreateDir is LoadOrCreate for a CA whose files (CertFile, KeyFile)
// sit directly in dir, the form standalone sidecars are given it in.
func LoadOrCreateDir(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	ca, err := load(dir, certPath, keyPath)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if certErr == nil || keyErr == nil {
		return nil, fmt.Errorf("environment CA in %s is incomplete (one of %s and %s is missing); remove the directory to create a new CA, then trust the new certificate", dir, CertFile, KeyFile)
	}
	if err := create(dir, certPath, keyPath); err != nil {
		return nil, err
	}
	return load(dir, certPath, keyPath)
}

func load(dir, certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read environment CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read environment CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("environment CA certificate %s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("environment CA certificate %s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("environment CA key %s: no PEM block", keyPath)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("environment CA key %s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("environment CA key %s does not belong to certificate %s", keyPath, certPath)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("environment CA certificate %s is not a CA certificate", certPath)
	}
	return &CA{dir: dir, cert: cert, certPEM: certPEM, key: key}, nil
}

// create writes a new CA. Each file is written under a temporary name and
// renamed, so a concurrent reader never sees half a file, and the key is
// renamed last so a crash in between leaves a state LoadOrCreate reports.
func create(dir, certPath, keyPath string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create CA directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Organization: []string{"cove"},
			CommonName:   "cove environment CA " + host + " " + now.UTC().Format("2006-01-02"),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode CA key: %w", err)
	}
	if err := WriteAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return WriteAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// WriteAtomic writes data to a temporary file with mode perm, flushes it to
// disk, then renames it to path: a crash leaves the old file or the new
// one, never a part.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// serial returns a random 128-bit serial number, as RFC 5280 recommends.
func serial() *big.Int {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	b[0] &= 0x7f           // keep it positive
	return new(big.Int).SetBytes(b[:])
}

func keyID(pub *ecdsa.PublicKey) []byte {
	b, _ := x509.MarshalPKIXPublicKey(pub) // an ECDSA P-256 key always marshals
	sum := sha256.Sum256(b)
	return sum[:20]
}

// Dir is the directory holding the CA's files.
func (c *CA) Dir() string { return c.dir }

// CertPath is the CA certificate's file, the one to trust
// (curl --cacert, a browser's authorities, SSL_CERT_FILE).
func (c *CA) CertPath() string { return filepath.Join(c.dir, CertFile) }

// CertPEM returns the CA certificate in PEM form.
func (c *CA) CertPEM() []byte { return bytes.Clone(c.certPEM) }

// Certificate returns the parsed CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Pool returns a pool holding only the CA certificate, for clients and
// servers that trust this environment.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName is informative only; names are matched against DNSNames,
	// IPs and URIs.
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// URIs carry SPIFFE IDs.
	URIs []*url.URL
	// Server and Client select the extended key usages; with neither set the
	// certificate is for servers.
	Server, Client bool
	// Validity defaults to 90 days.
	Validity time.Duration
}

// Issue creates a key pair and a certificate for it signed by the CA, ready
// for a tls.Config. The chain includes the CA certificate so peers that
// only know the root by name can still build it.
func (c *CA) Issue(l Leaf) (*tls.Certificate, error) {
	if len(l.DNSNames) == 0 && len(l.IPs) == 0 && len(l.URIs) == 0 {
		return nil, errors.New("issue certificate: no DNS name, IP or URI to certify")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: generate key: %w", err)
	}
	validity := l.Validity
	if validity <= 0 {
		validity = leafValidity
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	var usage []x509.ExtKeyUsage
	if l.Server || !l.Client {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	if l.Client {
		usage = append(usage, x509.ExtKeyUsageClientAuth)
	}
	cn := l.CommonName
	if cn == "" && len(l.DNSNames) > 0 {
		cn = l.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial(),
		Subject:        pkix.Name{Organization: []string{"cove"}, CommonName: cn},
		NotBefore:      now.Add(-backdate),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    usage,
		DNSNames:       l.DNSNames,
		IPAddresses:    l.IPs,
		URIs:           l.URIs,
		AuthorityKeyId: c.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %v: %w", l.DNSNames, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// SPIFFEID is the identity of a Dapr app id in an environment, in Dapr's
// form spiffe://<trust domain>/ns/<namespace>/<app id>.
func SPIFFEID(trustDomain, namespace, appID string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/ns/" + namespace + "/" + appID}
}

// IssueWorkload issues a certificate that identifies a Dapr app id by its
// SPIFFE ID, valid for both ends of an mTLS connection, as sidecars use it.
func (c *CA) IssueWorkload(trustDomain, namespace, appID string) (*tls.Certificate, error) {
	if trustDomain == "" || namespace == "" || appID == "" {
		return nil, fmt.Errorf("workload certificate: trust domain %q, namespace %q and app id %q must all be set", trustDomain, namespace, appID)
	}
	return c.Issue(Leaf{
		CommonName: appID,
		URIs:       []*url.URL{SPIFFEID(trustDomain, namespace, appID)},
		Server:     true,
		Client:     true,
	})
}
