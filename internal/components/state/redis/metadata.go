package redis

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
)

// settings is the parsed component metadata, with Dapr's keys.
type settings struct {
	hosts    []string // host:port
	username string
	password string
	db       int
	cluster  bool

	failover           bool
	sentinelMasterName string
	sentinelUsername   string
	sentinelPassword   string

	enableTLS          bool
	insecureSkipVerify bool
	clientCert         string
	clientKey          string

	// defaultTTL applies to writes that give no ttlInSeconds; nil: none.
	defaultTTL *int

	maxRetries      int
	minRetryBackoff time.Duration
	maxRetryBackoff time.Duration
	dialTimeout     time.Duration
	readTimeout     time.Duration
	writeTimeout    time.Duration
	poolSize        int
	minIdleConns    int
	poolTimeout     time.Duration
	idleTimeout     time.Duration
	maxConnAge      time.Duration

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

// parseSettings reads the metadata, matching keys case-insensitively as Dapr
// does; keys it does not know belong to the runtime and are ignored. It
// reports every problem at once.
func parseSettings(md components.Metadata) (settings, error) {
	get := md.Property
	var errs []error
	s := settings{dialTimeout: defaultDialTimeout}

	host, _ := get("redisHost")
	port, _ := get("redisPort")
	for h := range strings.SplitSeq(host, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		addr, err := withPort(h, port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.hosts = append(s.hosts, addr)
	}
	if strings.Trim(host, ", ") == "" {
		errs = append(errs, errors.New("metadata redisHost is required (host:port)"))
	}
	s.username, _ = get("redisUsername")
	s.password, _ = get("redisPassword")
	s.sentinelMasterName, _ = get("sentinelMasterName")
	s.sentinelUsername, _ = get("sentinelUsername")
	s.sentinelPassword, _ = get("sentinelPassword")
	s.clientCert, _ = get("clientCert")
	s.clientKey, _ = get("clientKey")

	switch t, _ := get("redisType"); strings.ToLower(t) {
	case "", "node":
	case "cluster":
		s.cluster = true
	default:
		errs = append(errs, fmt.Errorf("metadata redisType %q: use node or cluster", t))
	}

	bools := []struct {
		dst  *bool
		name string
	}{
		{&s.enableTLS, "enableTLS"},
		{&s.insecureSkipVerify, "insecureSkipTLSVerify"},
		{&s.failover, "failover"},
	}
	for _, b := range bools {
		if v, ok := get(b.name); ok {
			parsed, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata %s %q: not a boolean", b.name, v))
			}
			*b.dst = parsed
		}
	}
	for _, name := range []string{"useEntraID", "useAzureAD", "useOIDC"} {
		if v, ok := get(name); ok && v != "false" {
			errs = append(errs, fmt.Errorf("metadata %s: token authentication is not supported; use redisUsername and redisPassword", name))
		}
	}

	ints := []struct {
		dst   *int
		names []string
	}{
		{&s.db, []string{"redisDB"}},
		{&s.maxRetries, []string{"redisMaxRetries", "maxRetries"}},
		{&s.poolSize, []string{"poolSize"}},
		{&s.minIdleConns, []string{"minIdleConns"}},
	}
	for _, i := range ints {
		if v, ok := get(i.names...); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata %s %q: not an integer", i.names[0], v))
			}
			*i.dst = n
		}
	}
	if v, ok := get("ttlInSeconds"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata ttlInSeconds %q: not an integer", v))
		}
		s.defaultTTL = &n
	}

	durations := []struct {
		dst   *time.Duration
		names []string
	}{
		{&s.minRetryBackoff, []string{"redisMinRetryInterval"}},
		{&s.maxRetryBackoff, []string{"redisMaxRetryInterval", "maxRetryBackoff"}},
		{&s.dialTimeout, []string{"dialTimeout"}},
		{&s.readTimeout, []string{"readTimeout"}},
		{&s.writeTimeout, []string{"writeTimeout"}},
		{&s.poolTimeout, []string{"poolTimeout"}},
		{&s.idleTimeout, []string{"idleTimeout"}},
		{&s.maxConnAge, []string{"maxConnAge"}},
	}
	for _, d := range durations {
		if v, ok := get(d.names...); ok {
			dur, err := parseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata %s: %w", d.names[0], err))
			}
			*d.dst = dur
		}
	}

	if v, ok := get("queryIndexes"); ok && strings.TrimSpace(v) != "" {
		idx, err := parseQueryIndexes(v)
		if err != nil {
			errs = append(errs, err)
		}
		s.queryIndexes = idx
	}

	if s.failover && s.sentinelMasterName == "" {
		errs = append(errs, errors.New("metadata failover is true but sentinelMasterName is empty"))
	}
	if s.failover && s.cluster {
		errs = append(errs, errors.New("metadata failover and redisType cluster cannot be combined"))
	}
	if (s.clientCert == "") != (s.clientKey == "") {
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
func withPort(host, port string) (string, error) {
	if _, p, err := net.SplitHostPort(host); err == nil {
		if port != "" && port != p {
			return "", fmt.Errorf("metadata redisHost %q has port %s but redisPort is %s", host, p, port)
		}
		return host, nil
	}
	if port == "" {
		port = "6379"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("metadata redisPort %q: not a port number", port)
	}
	return net.JoinHostPort(host, port), nil
}

// parseDuration accepts a Go duration ("5s") or a whole number of
// milliseconds ("5000"); a negative number is passed through as is, which
// go-redis reads as "disabled". These are the forms Dapr's Redis components
// accept.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return time.Duration(n), nil
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration (5s) nor a number of milliseconds", v)
	}
	return d, nil
}

func (s settings) tlsConfig() (*tls.Config, error) {
	if !s.enableTLS {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(s.hosts[0])
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         host,
		InsecureSkipVerify: s.insecureSkipVerify, //nolint:gosec // the user asked for it in metadata
	}
	if s.clientCert != "" {
		cert, err := tls.X509KeyPair([]byte(s.clientCert), []byte(s.clientKey))
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
	switch {
	case s.cluster:
		return goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs: s.hosts, Username: s.username, Password: s.password, TLSConfig: tlsCfg,
			MaxRetries: s.maxRetries, MinRetryBackoff: s.minRetryBackoff, MaxRetryBackoff: s.maxRetryBackoff,
			DialTimeout: s.dialTimeout, ReadTimeout: s.readTimeout, WriteTimeout: s.writeTimeout,
			PoolSize: s.poolSize, MinIdleConns: s.minIdleConns, PoolTimeout: s.poolTimeout,
			ConnMaxIdleTime: s.idleTimeout, ConnMaxLifetime: s.maxConnAge,
		}), nil
	case s.failover:
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName: s.sentinelMasterName, SentinelAddrs: s.hosts,
			SentinelUsername: s.sentinelUsername, SentinelPassword: s.sentinelPassword,
			Username: s.username, Password: s.password, DB: s.db, TLSConfig: tlsCfg,
			MaxRetries: s.maxRetries, MinRetryBackoff: s.minRetryBackoff, MaxRetryBackoff: s.maxRetryBackoff,
			DialTimeout: s.dialTimeout, ReadTimeout: s.readTimeout, WriteTimeout: s.writeTimeout,
			PoolSize: s.poolSize, MinIdleConns: s.minIdleConns, PoolTimeout: s.poolTimeout,
			ConnMaxIdleTime: s.idleTimeout, ConnMaxLifetime: s.maxConnAge,
		}), nil
	default:
		return goredis.NewClient(&goredis.Options{
			Addr: s.hosts[0], Username: s.username, Password: s.password, DB: s.db, TLSConfig: tlsCfg,
			MaxRetries: s.maxRetries, MinRetryBackoff: s.minRetryBackoff, MaxRetryBackoff: s.maxRetryBackoff,
			DialTimeout: s.dialTimeout, ReadTimeout: s.readTimeout, WriteTimeout: s.writeTimeout,
			PoolSize: s.poolSize, MinIdleConns: s.minIdleConns, PoolTimeout: s.poolTimeout,
			ConnMaxIdleTime: s.idleTimeout, ConnMaxLifetime: s.maxConnAge,
		}), nil
	}
}
