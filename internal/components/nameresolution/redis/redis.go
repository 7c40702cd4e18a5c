package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/nameresolution"
)

// Type is the component type this package registers.
const Type = "nameresolution.redis"

// DefaultKeyPrefix starts every key the registry writes.
const DefaultKeyPrefix = "cove-nr"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ nameresolution.Registry = (*Registry)(nil)

// Registry is the Redis name resolution registry.
type Registry struct {
	common nameresolution.CommonSettings
	prefix string
	client *goredis.Client
}

// New returns an uninitialised registry.
func New() *Registry { return &Registry{} }

// registerScript upserts one instance with an expiry read from the server's
// clock, drops the app's expired instances and keeps both keys alive for
// at least one TTL.
var registerScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`)

// lookupScript returns the live instance ids followed by their addresses.
var lookupScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #ids == 0 then return {} end
local addrs = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i = 1, #ids do
  if addrs[i] then
    out[#out + 1] = ids[i]
    out[#out + 1] = addrs[i]
  end
end
return out
`)

// metadata is the registry's metadata, with the keys of Dapr's Redis
// components.
type metadata struct {
	nameresolution.CommonSettings

	Host      string `metadata:"redisHost"`
	Username  string `metadata:"redisUsername"`
	Password  string `metadata:"redisPassword"`
	DB        int    `metadata:"redisDB"`
	EnableTLS bool   `metadata:"enableTLS"`
	KeyPrefix string `metadata:"keyPrefix"`
}

// Init connects and checks the server answers.
func (r *Registry) Init(ctx context.Context, md components.Metadata) error {
	m := metadata{CommonSettings: nameresolution.DefaultCommon(5 * time.Second), KeyPrefix: DefaultKeyPrefix}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err, m.Check()}
	if m.Host == "" {
		errs = append(errs, errors.New("metadata redisHost is required (host:port)"))
	}
	if m.DB < 0 {
		errs = append(errs, fmt.Errorf("metadata redisDB %d: not a database number", m.DB))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", Type, err)
	}
	r.common, r.prefix = m.CommonSettings, m.KeyPrefix
	opts := &goredis.Options{
		Addr: m.Host, Username: m.Username, Password: m.Password, DB: m.DB,
		DialTimeout: m.Timeout, ReadTimeout: m.Timeout, WriteTimeout: m.Timeout,
	}
	if m.EnableTLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	r.client = goredis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	if err := r.client.Ping(pctx).Err(); err != nil {
		_ = r.client.Close()
		return fmt.Errorf("%s: connect to %s: %w", Type, m.Host, err)
	}
	return nil
}

// keys returns the sorted set and the hash of one app id; the braces make
// them one hash tag.
func (r *Registry) keys(namespace, appID string) []string {
	base := "{" + r.prefix + "|" + namespace + "|" + appID + "}"
	return []string{base + "|expiry", base + "|address"}
}

// Register upserts reg with an expiry TTL from the server's now.
func (r *Registry) Register(ctx context.Context, reg nameresolution.Registration) error {
	if err := reg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	err := registerScript.Run(ctx, r.client, r.keys(reg.Namespace, reg.AppID),
		reg.InstanceID, reg.Address, r.common.TTL().Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("%s: register %s: %w", Type, reg.AppID, err)
	}
	return nil
}

// Deregister removes reg's instance.
func (r *Registry) Deregister(ctx context.Context, reg nameresolution.Registration) error {
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	keys := r.keys(reg.Namespace, reg.AppID)
	_, err := r.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZRem(ctx, keys[0], reg.InstanceID)
		p.HDel(ctx, keys[1], reg.InstanceID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: deregister %s: %w", Type, reg.AppID, err)
	}
	return nil
}

// Lookup returns the live instances of appID.
func (r *Registry) Lookup(ctx context.Context, namespace, appID string) ([]nameresolution.Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.common.Timeout)
	defer cancel()
	vals, err := lookupScript.Run(ctx, r.client, r.keys(namespace, appID)).StringSlice()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("%s: look up %s: %w", Type, appID, err)
	}
	out := make([]nameresolution.Registration, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		out = append(out, nameresolution.Registration{Namespace: namespace, AppID: appID, InstanceID: vals[i], Address: vals[i+1]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out, nil
}

// UpdateInterval is the configured heartbeat interval.
func (r *Registry) UpdateInterval() time.Duration { return r.common.UpdateInterval }

// TTL is how long a registration outlives its last heartbeat.
func (r *Registry) TTL() time.Duration { return r.common.TTL() }

// Close closes the client.
func (r *Registry) Close() error {
	if r.client == nil {
		return nil
	}
	return r.client.Close()
}
