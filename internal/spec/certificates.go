package spec

import (
	"crypto/tls"
	"path"
	"strings"
)

// CertificateEntry is a certificate for custom domains, given in the
// environment file as PEM files. It stands for an ACA managed environment
// certificate: a custom domain's certificateId names it by its resource ID
// or by its name alone.
type CertificateEntry struct {
	Name     string `json:"name"`
	CertFile string `json:"certFile"` // absolute
	KeyFile  string `json:"keyFile"`  // absolute
}

// certificateFile is the YAML shape of a certificates entry in cove.yaml.
type certificateFile struct {
	Name     string `json:"name"`
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
}

// CertificateName is the certificate name a custom domain's certificateId
// refers to: the last segment of an ACA resource ID
// (/subscriptions/.../managedEnvironments/<env>/certificates/<name>), or
// the id itself when it is a plain name.
func CertificateName(certificateID string) string {
	return path.Base(strings.TrimSuffix(certificateID, "/"))
}

// Certificate finds a certificate of the environment file by a custom
// domain's certificateId.
func (e *Environment) Certificate(certificateID string) (*CertificateEntry, bool) {
	name := CertificateName(certificateID)
	for _, c := range e.Certificates {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// certificates checks the environment file's certificates: named uniquely,
// and each pair of files a certificate with its private key.
func (l *loader) certificates(list []certificateFile) {
	d := l.d
	names := d.uniqueNames("certificate")
	for i, f := range list {
		cp := indexPath("certificates", i)
		if d.requiredString(cp+".name", f.Name, "the certificate's name, as the last segment of a custom domain's certificateId") {
			names.add(cp+".name", f.Name)
		}
		okCert := d.requiredString(cp+".certFile", f.CertFile, "a PEM file with the certificate (and its chain)")
		okKey := d.requiredString(cp+".keyFile", f.KeyFile, "a PEM file with the certificate's private key")
		if !okCert || !okKey {
			continue
		}
		entry := &CertificateEntry{Name: f.Name, CertFile: l.resolve(f.CertFile), KeyFile: l.resolve(f.KeyFile)}
		if _, err := tls.LoadX509KeyPair(entry.CertFile, entry.KeyFile); err != nil {
			d.errorf(cp+".certFile", "%s and %s are not a certificate and its key: %v", f.CertFile, f.KeyFile, err)
			continue
		}
		l.env.Certificates = append(l.env.Certificates, entry)
	}
}
