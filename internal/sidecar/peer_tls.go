package sidecar

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/cove-env/cove/internal/security"
)

// PeerTLS is a standalone sidecar's side of sidecar-to-sidecar mutual TLS:
// its workload certificate, carrying the SPIFFE ID
// spiffe://<trust domain>/ns/<namespace>/<app id>, and the environment CA
// that every peer's chain must lead to.
type PeerTLS struct {
	TrustDomain string
	Namespace   string
	AppID       string
	cert        *tls.Certificate
	roots       *x509.CertPool
}

// NewPeerTLS issues the sidecar's workload certificate from ca.
func NewPeerTLS(ca *security.CA, trustDomain, namespace, appID string) (*PeerTLS, error) {
	cert, err := ca.IssueWorkload(trustDomain, namespace, appID)
	if err != nil {
		return nil, fmt.Errorf("sidecar %s: %w", appID, err)
	}
	return &PeerTLS{TrustDomain: trustDomain, Namespace: namespace, AppID: appID, cert: cert, roots: ca.Pool()}, nil
}

// Certificate is the sidecar's workload certificate.
func (p *PeerTLS) Certificate() *tls.Certificate { return p.cert }

// ServerConfig is the internal listener's TLS: a client certificate from
// the CA with a SPIFFE ID of the trust domain is required, so a client
// without one fails the handshake before it can send a request.
func (p *PeerTLS) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*p.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.roots,
		NextProtos:   []string{"h2"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return errors.New("client certificate not verified")
			}
			_, _, err := PeerIdentity(p.TrustDomain, cs.VerifiedChains[0][0])
			return err
		},
	}
}

// ClientConfig is the TLS for calls to other sidecars. Peers are named by
// SPIFFE ID, not host name, so the chain is verified here rather than by
// the host name check; which app the peer must be is checked per call
// (VerifyPeer).
func (p *PeerTLS) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*p.cert},
		NextProtos:   []string{"h2"},
		// The chain is verified in VerifyConnection instead.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := p.verifyChain(cs.PeerCertificates)
			return err
		},
	}
}

// verifyChain verifies a peer's chain against the CA for both ends of
// mTLS and returns its leaf.
func (p *PeerTLS) verifyChain(certs []*x509.Certificate) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         p.roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	if _, _, err := PeerIdentity(p.TrustDomain, certs[0]); err != nil {
		return nil, err
	}
	return certs[0], nil
}

// VerifyPeer checks that a connection's (already verified) peer is the
// sidecar of appID in this sidecar's namespace; it is
// invoke.PeerTransportOptions.VerifyPeer.
func (p *PeerTLS) VerifyPeer(cs *tls.ConnectionState, appID string) error {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return errors.New("connection is not mutual TLS")
	}
	ns, id, err := PeerIdentity(p.TrustDomain, cs.PeerCertificates[0])
	if err != nil {
		return err
	}
	if id != appID || ns != p.Namespace {
		return fmt.Errorf("peer is %s in namespace %s, not %s: its registration is stale", id, ns, appID)
	}
	return nil
}

// PeerIdentity reads the namespace and app id from a workload
// certificate's SPIFFE ID, which must be in trustDomain and of Dapr's form
// spiffe://<trust domain>/ns/<namespace>/<app id>.
func PeerIdentity(trustDomain string, cert *x509.Certificate) (namespace, appID string, err error) {
	var found []string
	for _, u := range cert.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		found = append(found, u.String())
		if u.Host != trustDomain {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) == 3 && parts[0] == "ns" && parts[1] != "" && parts[2] != "" {
			return parts[1], parts[2], nil
		}
	}
	if len(found) == 0 {
		return "", "", errors.New("peer certificate has no SPIFFE ID")
	}
	return "", "", fmt.Errorf("peer certificate's SPIFFE ID %s is not spiffe://%s/ns/<namespace>/<app id>", strings.Join(found, ", "), trustDomain)
}
