package redis

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
)

// metadata is the component's metadata as Dapr's Redis components name
// and read it.
type metadata struct {
	state.RuntimeMetadata

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

	// TTLInSeconds applies to writes that give no ttlInSeconds; nil: none.
	TTLInSeconds *int `metadata:"ttlInSeconds"`

	MaxRetries       int        `metadata:"redisMaxRetries,maxRetries"`
	MinRetryInterval msDuration `metadata:"redisMinRetryInterval"`
	MaxRetryInterval msDuration `metadata:"redisMaxRetryInterval,maxRetryBackoff"`
	DialTimeout      msDuration `metadata:"dialTimeout"`
	ReadTimeout      msDuration `metadata:"readTimeout"`
	WriteTimeout     msDuration `metadata:"writeTimeout"`
	PoolSize         int        `metadata:"poolSize"`
	MinIdleConns     int        `metadata:"minIdleConns"`
	PoolTimeout      msDuration `metadata:"poolTimeout"`
	IdleTimeout      msDuration `metadata:"idleTimeout"`
	MaxConnAge       msDuration `metadata:"maxConnAge"`
	// IdleCheckFrequency is read as Dapr reads it; go-redis v9 has no
	// such setting, so it changes nothing.
	IdleCheckFrequency msDuration `metadata:"idleCheckFrequency"`

	// QueryIndexes is the JSON list of RediSearch indexes Dapr's query API
	// on Redis uses; see parseQueryIndexes.
	QueryIndexes string `metadata:"queryIndexes"`
}

// msDuration is a duration as Dapr's Redis components read one: a Go
// duration ("5s") or a whole number of milliseconds ("5000"). A negative
// number is kept as is, since go-redis reads -1 and -2 as "disabled".
type msDuration time.Duration

func (d *msDuration) UnmarshalText(b []byte) error {
	v := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case n < 0:
			*d = msDuration(n)
		case n > int64(math.MaxInt64/time.Millisecond):
			return errors.New("out of range; use at most 292 years")
		default:
			*d = msDuration(time.Duration(n) * time.Millisecond)
		}
		return nil
	}
	p, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("neither a duration (5s) nor a whole number of milliseconds")
	}
	*d = msDuration(p)
	return nil
}

// settings is the checked component metadata.
type settings struct {
	md      metadata
	hosts   []string // host:port
	cluster bool

	dialTimeout time.Duration
	// defaultTTL applies to writes that give no ttlInSeconds; nil: none.
	defaultTTL *int
	// queryIndexes are the RediSearch indexes Dapr's query API on Redis
	// uses; see checkQueryModules.
	queryIndexes []queryIndex
}

// queryIndex is one entry of the queryIndexes metadata: a RediSearch
// index over JSON values, with the paths and types it indexes.
type queryIndex struct {
	Name    string `json:"name"`
	Indexes []struct {
		Key  string `json:"key"`
		Type string `json:"type"`
	} `json:"indexes"`
}

// defaultDialTimeout is go-redis's, named here because Init's reachability
// check waits for it.
const defaultDialTimeout = 5 * time.Second

// parseSettings decodes the metadata and checks what decoding cannot: the
// required host, combinations, and what cove does not support. It reports
// every problem at once.
func parseSettings(md components.Metadata) (settings, error) {
	m := metadata{DialTimeout: msDuration(defaultDialTimeout)}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	s := settings{md: m, dialTimeout: time.Duration(m.DialTimeout), defaultTTL: m.TTLInSeconds}

	for _, h := range m.Hosts {
		addr, err := withPort(h, m.Port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.hosts = append(s.hosts, addr)
	}
	if len(m.Hosts) == 0 {
		errs = append(errs, errors.New("metadata redisHost is required (host:port)"))
	}
	switch strings.ToLower(m.Type) {
	case "", "node":
	case "cluster":
		s.cluster = true
	default:
		errs = append(errs, fmt.Errorf("metadata redisType %q: use node or cluster", m.Type))
	}
	if m.UseEntraID || m.UseOIDC {
		errs = append(errs, errors.New("metadata useEntraID/useAzureAD/useOIDC: token authentication is not supported; use redisUsername and redisPassword"))
	}
	if strings.TrimSpace(m.QueryIndexes) != "" {
		idx, err := parseQueryIndexes(m.QueryIndexes)
		if err != nil {
			errs = append(errs, err)
		}
		s.queryIndexes = idx
	}

	if m.Failover && m.SentinelMasterName == "" {
		errs = append(errs, errors.New("metadata failover is true but sentinelMasterName is empty"))
	}
	if m.Failover && s.cluster {
		errs = append(errs, errors.New("metadata failover and redisType cluster cannot be combined"))
	}
	if (m.ClientCert == "") != (m.ClientKey == "") {
		errs = append(errs, errors.New("metadata clientCert and clientKey must be given together"))
	}
	return s, errors.Join(errs...)
}

// parseQueryIndexes reads queryIndexes as Dapr writes it: a JSON list of
// {"name": ..., "indexes": [{"key": "a.b", "type": "TEXT"|"NUMERIC"}]}.
func parseQueryIndexes(v string) ([]queryIndex, error) {
	var idx []queryIndex
	if err := json.Unmarshal([]byte(v), &idx); err != nil {
		return nil, fmt.Errorf(`metadata queryIndexes: not a JSON list of {"name": ..., "indexes": [{"key": ..., "type": "TEXT" or "NUMERIC"}]}: %w`, err)
	}
	for i, ix := range idx {
		if ix.Name == "" {
			return nil, fmt.Errorf("metadata queryIndexes[%d]: name is required", i)
		}
		for j, k := range ix.Indexes {
			if k.Key == "" {
				return nil, fmt.Errorf("metadata queryIndexes[%d].indexes[%d]: key is required", i, j)
			}
			if t := strings.ToUpper(k.Type); t != "TEXT" && t != "NUMERIC" {
				return nil, fmt.Errorf("metadata queryIndexes[%d].indexes[%d].type %q: use TEXT or NUMERIC", i, j, k.Type)
			}
		}
	}
	return idx, nil
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

func (s settings) tlsConfig() (*tls.Config, error) {
	if !s.md.EnableTLS {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(s.hosts[0])
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: s.md.InsecureSkipTLSVerify, //nolint:gosec // the user asked for it in metadata
	}
	if s.md.ClientCert != "" {
		cert, err := tls.X509KeyPair([]byte(s.md.ClientCert), []byte(s.md.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("metadata clientCert/clientKey: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// newClient builds the go-redis client for a node, a cluster or a
// sentinel-managed master.
func (s settings) newClient() (goredis.UniversalClient, error) {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	m := s.md
	opts := &goredis.UniversalOptions{
		Addrs: s.hosts, Username: m.Username, Password: m.Password, DB: m.DB, TLSConfig: tlsCfg,
		MasterName: m.SentinelMasterName, SentinelUsername: m.SentinelUsername, SentinelPassword: m.SentinelPassword,
		MaxRetries: m.MaxRetries, MinRetryBackoff: time.Duration(m.MinRetryInterval), MaxRetryBackoff: time.Duration(m.MaxRetryInterval),
		DialTimeout: s.dialTimeout, ReadTimeout: time.Duration(m.ReadTimeout), WriteTimeout: time.Duration(m.WriteTimeout),
		PoolSize: m.PoolSize, MinIdleConns: m.MinIdleConns, PoolTimeout: time.Duration(m.PoolTimeout),
		ConnMaxIdleTime: time.Duration(m.IdleTimeout), ConnMaxLifetime: time.Duration(m.MaxConnAge),
	}
	switch {
	case s.cluster:
		return goredis.NewClusterClient(opts.Cluster()), nil
	case m.Failover:
		return goredis.NewFailoverClient(opts.Failover()), nil
	default:
		return goredis.NewClient(opts.Simple()), nil
	}
}
