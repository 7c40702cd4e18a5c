// Package redisconn is what Dapr's Redis components (state.redis,
// pubsub.redis) share: their connection metadata, read with Dapr's keys and
// forms, the go-redis client for a node, a cluster or a
// sentinel-managed master that it describes, checked to answer, and the
// Batcher that sends their concurrent calls as one pipeline.
//
// It imports no cove package.
package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Metadata is the connection metadata of Dapr's Redis components; a
// component embeds it in the struct it decodes its metadata into.
type Metadata struct {
	Hosts    []string `metadata:"redisHost"` // host[:port], a comma list for a cluster or sentinels
	Port     uint16   `metadata:"redisPort"` // for hosts without one
	Username string   `metadata:"redisUsername"`
	Password string   `metadata:"redisPassword"`
	DB       int      `metadata:"redisDB"`
	Type     string   `metadata:"redisType"` // node or cluster

	Failover           bool   `metadata:"failover"`
	SentinelMasterName string `metadata:"sentinelMasterName"`
	SentinelUsername   string `metadata:"sentinelUsername"`
	SentinelPassword   string `metadata:"sentinelPassword"`

	EnableTLS             bool   `metadata:"enableTLS"`
	InsecureSkipTLSVerify bool   `metadata:"insecureSkipTLSVerify"`
	ClientCert            string `metadata:"clientCert"`
	ClientKey             string `metadata:"clientKey"`
	UseEntraID            bool   `metadata:"useEntraID,useAzureAD"`
	UseOIDC               bool   `metadata:"useOIDC"`

	MaxRetries       int        `metadata:"redisMaxRetries,maxRetries"`
	MinRetryInterval MsDuration `metadata:"redisMinRetryInterval"`
	MaxRetryInterval MsDuration `metadata:"redisMaxRetryInterval,maxRetryBackoff"`
	DialTimeout      MsDuration `metadata:"dialTimeout"`
	ReadTimeout      MsDuration `metadata:"readTimeout"`
	WriteTimeout     MsDuration `metadata:"writeTimeout"`
	PoolSize         int        `metadata:"poolSize"`
	MinIdleConns     int        `metadata:"minIdleConns"`
	PoolTimeout      MsDuration `metadata:"poolTimeout"`
	IdleTimeout      MsDuration `metadata:"idleTimeout"`
	MaxConnAge       MsDuration `metadata:"maxConnAge"`
	// IdleCheckFrequency is read as Dapr reads it; go-redis v9 has no
	// such setting, so it changes nothing.
	IdleCheckFrequency MsDuration `metadata:"idleCheckFrequency"`
}

// Defaults returns the metadata with go-redis's dial timeout, which Ping's
// reachability check waits for.
func Defaults() Metadata { return Metadata{DialTimeout: MsDuration(DefaultDialTimeout)} }

// DefaultDialTimeout is go-redis's, named here because Ping waits for it.
const DefaultDialTimeout = 5 * time.Second

// MsDuration is a duration as Dapr's Redis components read one: a Go
// duration ("5s") or a whole number of milliseconds ("5000"). A negative
// number is kept as is, since go-redis reads -1 and -2 as "disabled".
type MsDuration time.Duration

func (d *MsDuration) UnmarshalText(b []byte) error {
	v := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n < 0:
			*d = MsDuration(n)
		case n > int64(math.MaxInt64/time.Millisecond):
			return errors.New("out of range; use at most 292 years")
		default:
			*d = MsDuration(time.Duration(n) * time.Millisecond)
		}
		return nil
	}
	p, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("neither a duration (5s) nor a whole number of milliseconds")
	}
	*d = MsDuration(p)
	return nil
}

// Settings is checked connection metadata.
type Settings struct {
	MD      Metadata
	Hosts   []string // host:port
	Cluster bool
}

// Check checks what decoding cannot: the required host, combinations, and
// what cove does not support. It reports every problem at once.
func (m Metadata) Check() (Settings, error) {
	s := Settings{MD: m}
	var errs []error
	for _, h := range m.Hosts {
		addr, err := withPort(h, m.Port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Hosts = append(s.Hosts, addr)
	}
	if len(m.Hosts) == 0 {
		errs = append(errs, errors.New("metadata redisHost is required (host:port)"))
	}
	switch strings.ToLower(m.Type) {
	case "", "node":
	case "cluster":
		s.Cluster = true
	default:
		errs = append(errs, fmt.Errorf("metadata redisType %q: use node or cluster", m.Type))
	}
	if m.UseEntraID || m.UseOIDC {
		errs = append(errs, errors.New("metadata useEntraID/useAzureAD/useOIDC: token authentication is not supported; use redisUsername and redisPassword"))
	}
	if m.Failover && m.SentinelMasterName == "" {
		errs = append(errs, errors.New("metadata failover is true but sentinelMasterName is empty"))
	}
	if m.Failover && s.Cluster {
		errs = append(errs, errors.New("metadata failover and redisType cluster cannot be combined"))
	}
	if (m.ClientCert == "") != (m.ClientKey == "") {
		errs = append(errs, errors.New("metadata clientCert and clientKey must be given together"))
	}
	return s, errors.Join(errs...)
}

// withPort adds redisPort, or Redis's default port, to a host without one.
func withPort(host string, port uint16) (string, error) {
	if _, p, err := net.SplitHostPort(host); err == nil {
		if port != 0 && strconv.Itoa(int(port)) != p {
			return "", fmt.Errorf("metadata redisHost %q has port %s but redisPort is %d", host, p, port)
		}
		return host, nil
	}
	if port == 0 {
		port = 6379
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

func (s Settings) tlsConfig() (*tls.Config, error) {
	if !s.MD.EnableTLS {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(s.Hosts[0])
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: s.MD.InsecureSkipTLSVerify, //nolint:gosec // the user asked for it in metadata
	}
	if s.MD.ClientCert != "" {
		cert, err := tls.X509KeyPair([]byte(s.MD.ClientCert), []byte(s.MD.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("metadata clientCert/clientKey: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Addr is the hosts as one string, for messages.
func (s Settings) Addr() string { return strings.Join(s.Hosts, ",") }

// NewClient builds the go-redis client for a node, a cluster or a
// sentinel-managed master.
func (s Settings) NewClient() (goredis.UniversalClient, error) {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	m := s.MD
	opts := &goredis.UniversalOptions{
		Addrs: s.Hosts, Username: m.Username, Password: m.Password, DB: m.DB, TLSConfig: tlsCfg,
		MasterName: m.SentinelMasterName, SentinelUsername: m.SentinelUsername, SentinelPassword: m.SentinelPassword,
		MaxRetries: m.MaxRetries, MinRetryBackoff: time.Duration(m.MinRetryInterval), MaxRetryBackoff: time.Duration(m.MaxRetryInterval),
		DialTimeout: time.Duration(m.DialTimeout), ReadTimeout: time.Duration(m.ReadTimeout), WriteTimeout: time.Duration(m.WriteTimeout),
		PoolSize: m.PoolSize, MinIdleConns: m.MinIdleConns, PoolTimeout: time.Duration(m.PoolTimeout),
		ConnMaxIdleTime: time.Duration(m.IdleTimeout), ConnMaxLifetime: time.Duration(m.MaxConnAge),
	}
	switch {
	case s.Cluster:
		return goredis.NewClusterClient(opts.Cluster()), nil
	case m.Failover:
		return goredis.NewFailoverClient(opts.Failover()), nil
	default:
		return goredis.NewClient(opts.Simple()), nil
	}
}

// CheckTimeout bounds a check made at Init: the dial timeout and a second.
func (s Settings) CheckTimeout() time.Duration {
	wait := time.Duration(s.MD.DialTimeout)
	if wait <= 0 {
		wait = DefaultDialTimeout
	}
	return wait + time.Second
}

// Connect builds the client and checks that Redis answers within the dial
// timeout, so a dead address fails at once, naming the address, instead of
// retrying in the background.
func (s Settings) Connect(ctx context.Context) (goredis.UniversalClient, error) {
	client, err := s.NewClient()
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, s.CheckTimeout())
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", s.Addr(), err)
	}
	return client, nil
}
