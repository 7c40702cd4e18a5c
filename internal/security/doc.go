// Package security owns the environment's certificate authority: a CA
// created on the first run under the environment's state directory and loaded
// on later runs, and the certificates it issues: the edge's serving
// certificates for <app>.<domain>, <app>.internal.<domain>, bare app names,
// localhost and 127.0.0.1, custom domains (a given certificate, or one
// issued by the CA when none is), and workload certificates that carry an app's
// SPIFFE ID for sidecar-to-sidecar mTLS.
//
// It also writes the trust bundle replicas get as SSL_CERT_FILE: the
// system's roots plus the environment CA, so https://<app> verifies inside
// the environment.
//
// It imports nothing of cove's, so the control plane, the edge and the
// sidecars may all use it.
package security
