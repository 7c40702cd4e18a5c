// Package http is the bindings.http output binding, as Dapr's: each
// operation is an HTTP verb (create is POST) sent to the component's url,
// with the request's path metadata appended and its capitalised metadata
// keys as headers; the answer's status and headers come back as metadata.
//
// Inside cove up, URLs go through the environment's internal proxy, as
// from a replica, so http://<app> reaches that app; loopback addresses go
// direct. Elsewhere (cove sidecar) the process's HTTP_PROXY applies, as
// with daprd.
package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
)

// Type is the component type this package registers.
const Type = "bindings.http"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ bindings.Output = (*Binding)(nil)

const defaultMaxResponseBodySize = 100 << 20 // Dapr's 100 MB

type metadata struct {
	bindings.RuntimeMetadata
	URL                 string         `metadata:"url"`
	MTLSRootCA          string         `metadata:"mtlsRootCA"`
	MTLSClientCert      string         `metadata:"mtlsClientCert"`
	MTLSClientKey       string         `metadata:"mtlsClientKey"`
	MTLSRenegotiation   string         `metadata:"mtlsRenegotiation"`
	SecurityToken       string         `metadata:"securityToken"`
	SecurityTokenHeader string         `metadata:"securityTokenHeader"`
	ResponseTimeout     *time.Duration `metadata:"responseTimeout"`
	MaxResponseBodySize string         `metadata:"maxResponseBodySize"`
	ErrorIfNot2XX       *bool          `metadata:"errorIfNot2XX"`
}

// Binding is the HTTP output binding.
type Binding struct {
	md      metadata
	maxBody int64
	client  *http.Client
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{} }

// Init reads the metadata and builds the client with the TLS options.
func (b *Binding) Init(_ context.Context, md components.Metadata) error {
	var m metadata
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	u, uerr := url.Parse(m.URL)
	switch {
	case m.URL == "":
		errs = append(errs, errors.New("metadata url is required: the base URL requests go to"))
	case uerr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("metadata url %q: use an absolute http:// or https:// URL", m.URL))
	}
	maxBody, serr := parseSize(m.MaxResponseBodySize)
	if serr != nil {
		errs = append(errs, fmt.Errorf("metadata maxResponseBodySize %q: %w", m.MaxResponseBodySize, serr))
	}
	tlsCfg, terr := tlsConfig(m)
	errs = append(errs, terr)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout: 15 * time.Second,
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	// Outside an environment, the process's HTTP_PROXY applies, as to
	// daprd's binding.
	tr.Proxy = http.ProxyFromEnvironment
	if md.HTTPProxy != "" {
		proxy, err := url.Parse(md.HTTPProxy)
		if err != nil {
			return fmt.Errorf("%s %q: proxy %q: %w", Type, md.Name, md.HTTPProxy, err)
		}
		tr.Proxy = func(r *http.Request) (*url.URL, error) {
			if loopback(r.URL.Hostname()) {
				return nil, nil // as a replica's NO_PROXY: its sidecar and this machine go direct
			}
			return proxy, nil
		}
	}
	b.md, b.maxBody, b.client = m, maxBody, &http.Client{Transport: tr}
	return nil
}

// loopback reports whether host is this machine by address or as localhost.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseSize reads a byte size: a number, optionally with Dapr's suffixes
// (Ki, Mi, Gi, or k, M, G). "" is Dapr's default.
func parseSize(s string) (int64, error) {
	if s == "" {
		return defaultMaxResponseBodySize, nil
	}
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if n, ok := strings.CutSuffix(s, suf.s); ok {
			s, mult = n, suf.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("use a number of bytes, optionally with Ki, Mi or Gi")
	}
	return n * mult, nil
}

// tlsConfig builds the client's TLS from the mTLS items, each a PEM value
// or a file holding one.
func tlsConfig(m metadata) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if m.MTLSRootCA != "" {
		if ca, err := pemBytes("mtlsRootCA", m.MTLSRootCA); err != nil {
			errs = append(errs, err)
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				errs = append(errs, errors.New("metadata mtlsRootCA: no certificate in it"))
			}
			cfg.RootCAs = pool
		}
	}
	if (m.MTLSClientCert == "") != (m.MTLSClientKey == "") {
		errs = append(errs, errors.New("metadata mtlsClientCert and mtlsClientKey: give both or neither"))
	} else if m.MTLSClientCert != "" {
		cert, cerr := pemBytes("mtlsClientCert", m.MTLSClientCert)
		key, kerr := pemBytes("mtlsClientKey", m.MTLSClientKey)
		if err := errors.Join(cerr, kerr); err != nil {
			errs = append(errs, err)
		} else if pair, err := tls.X509KeyPair(cert, key); err != nil {
			errs = append(errs, fmt.Errorf("metadata mtlsClientCert/mtlsClientKey: %w", err))
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	}
	switch m.MTLSRenegotiation {
	case "", "RenegotiateNever":
	case "RenegotiateOnceAsClient":
		cfg.Renegotiation = tls.RenegotiateOnceAsClient
	case "RenegotiateFreelyAsClient":
		cfg.Renegotiation = tls.RenegotiateFreelyAsClient
	default:
		errs = append(errs, fmt.Errorf("metadata mtlsRenegotiation %q: use RenegotiateNever, RenegotiateOnceAsClient or RenegotiateFreelyAsClient", m.MTLSRenegotiation))
	}
	return cfg, errors.Join(errs...)
}

func pemBytes(key, v string) ([]byte, error) {
	if b, _ := pem.Decode([]byte(v)); b != nil {
		return []byte(v), nil
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: neither PEM nor a readable file: %w", key, err)
	}
	return data, nil
}

// Operations are Dapr's: create (POST) and the HTTP verbs.
func (b *Binding) Operations() []string {
	return []string{bindings.OperationCreate, "get", "head", "post", "put", "patch", "delete", "options", "trace"}
}

// Invoke sends the request. An answer that is not 2xx is an error unless
// errorIfNot2XX is false (in the component or the request); its body and
// metadata are answered either way.
func (b *Binding) Invoke(ctx context.Context, req *bindings.Request) (*bindings.Response, error) {
	md := req.Metadata
	target := b.md.URL
	if p := md["path"]; p != "" {
		target = strings.TrimRight(target, "/") + "/" + strings.TrimLeft(p, "/")
	}
	errorIfNot2XX := b.md.ErrorIfNot2XX == nil || *b.md.ErrorIfNot2XX
	if v := md["errorIfNot2XX"]; v != "" {
		errorIfNot2XX = components.Truthy(v)
	}
	method := strings.ToUpper(req.Operation)
	var body io.Reader
	switch method {
	case "CREATE":
		method, body = http.MethodPost, bytes.NewReader(req.Data)
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		body = bytes.NewReader(req.Data)
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions, http.MethodTrace:
	default:
		return nil, fmt.Errorf("%w: invalid operation: %s", bindings.ErrInvalid, req.Operation)
	}
	if b.md.ResponseTimeout != nil && *b.md.ResponseTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *b.md.ResponseTimeout)
		defer cancel()
	}
	r, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", bindings.ErrInvalid, err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	r.Header.Set("Accept", "application/json; charset=utf-8")
	if b.md.SecurityToken != "" && b.md.SecurityTokenHeader != "" {
		r.Header.Set(b.md.SecurityTokenHeader, b.md.SecurityToken)
	}
	// As Dapr: metadata keys that start with a capital letter are headers
	// (and may replace the defaults above); trace context goes through.
	for k, v := range md {
		if k != "" && k[0] >= 'A' && k[0] <= 'Z' {
			r.Header.Set(k, v)
		}
	}
	for _, k := range []string{"traceparent", "tracestate", "baggage"} {
		if v := md[k]; v != "" {
			r.Header.Set(k, v)
		}
	}
	resp, err := b.client.Do(r)
	if err != nil {
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	var rd io.Reader = resp.Body
	if b.maxBody > 0 {
		rd = io.LimitReader(resp.Body, b.maxBody)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s %s: %w", method, target, err)
	}
	out := &bindings.Response{Data: data, Metadata: map[string]string{
		"statusCode": strconv.Itoa(resp.StatusCode),
		"status":     resp.Status,
	}}
	for k, v := range resp.Header {
		out.Metadata[k] = strings.Join(v, ", ")
	}
	if errorIfNot2XX && resp.StatusCode/100 != 2 {
		return out, fmt.Errorf("received status code %d", resp.StatusCode)
	}
	return out, nil
}

// Close drops idle connections.
func (b *Binding) Close() error {
	if b.client != nil {
		b.client.CloseIdleConnections()
	}
	return nil
}
