// Package redis is the configuration.redis store, as Dapr's: an item is a
// string key whose value is "value" or "value||version", and changes are
// reported through Redis keyspace notifications.
//
// Keyspace notifications are off in a Redis that has never been told
// otherwise. Dapr's store turns them on at every subscription (CONFIG SET
// notify-keyspace-events Kg$xe), overwriting what the server had; this one
// turns them on only when the setting is empty, and otherwise leaves the
// server's choice alone, warning when it cannot report changes.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/components/redisconn"
)

// Type is the component type this package registers.
const Type = "configuration.redis"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ configuration.Store = (*Store)(nil)

// separator splits a value from its version.
const separator = "||"

// keyspaceEvents is what Dapr's store enables: keyspace events (K) for
// generic commands (g: DEL, EXPIRE, RENAME), strings ($), evictions (e)
// and expiries (x).
const keyspaceEvents = "Kg$xe"

// Store is the Redis configuration store.
type Store struct {
	client goredis.UniversalClient
	db     int
	log    *slog.Logger

	subs configuration.Subscriptions
}

// New returns an uninitialised store.
func New() *Store { return &Store{log: slog.Default()} }

// Init reads Dapr's Redis connection metadata and checks that Redis
// answers.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	s.log = slog.Default().With("component", md.Name, "type", Type)
	m := redisconn.Defaults()
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	conn, connErr := m.Check()
	if err := errors.Join(err, connErr); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if conn.Cluster {
		return fmt.Errorf("%s %q: metadata redisType cluster: keyspace notifications are per node; use a node, or Sentinel with failover", Type, md.Name)
	}
	client, err := conn.Connect(ctx)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	s.client, s.db = client, m.DB
	return nil
}

// Get reads keys (every string key when none is given) in one pipeline.
// Keys that do not exist, hold another type or an empty value are left
// out, as in Dapr.
func (s *Store) Get(ctx context.Context, keys []string, _ map[string]string) (map[string]*configuration.Item, error) {
	if len(keys) == 0 {
		var err error
		if keys, err = s.allKeys(ctx); err != nil {
			return nil, err
		}
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	// Each command carries its own error: a failed pipeline fails them all.
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	items := make(map[string]*configuration.Item, len(keys))
	for i, c := range cmds {
		v, cerr := c.Result()
		switch {
		case errors.Is(cerr, goredis.Nil), cerr != nil && strings.HasPrefix(cerr.Error(), "WRONGTYPE"):
			continue
		case cerr != nil:
			return nil, fmt.Errorf("redis GET %s: %w", keys[i], cerr)
		}
		if it := parse(v); it.Value != "" {
			items[keys[i]] = it
		}
	}
	return items, nil
}

// parse splits "value||version".
func parse(v string) *configuration.Item {
	value, version, _ := strings.Cut(v, separator)
	if i := strings.Index(version, separator); i >= 0 {
		version = version[:i] // Dapr keeps the second part only
	}
	return &configuration.Item{Value: value, Version: version, Metadata: map[string]string{}}
}

// allKeys lists the database's keys with SCAN, which, unlike KEYS, does not
// hold the server for the whole listing.
func (s *Store) allKeys(ctx context.Context) ([]string, error) {
	var keys []string
	iter := s.client.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("redis SCAN: %w", err)
	}
	return keys, nil
}

// channel is the keyspace channel of key ("*" for every key).
func (s *Store) channel(key string) string {
	return "__keyspace@" + strconv.Itoa(s.db) + "__:" + key
}

// Subscribe listens on the keys' keyspace channels; each notification is
// answered by reading the key again (an empty item when it is gone).
func (s *Store) Subscribe(ctx context.Context, keys []string, md map[string]string, h configuration.Handler) (string, error) {
	if err := s.enableNotifications(ctx); err != nil {
		return "", err
	}
	id, subCtx, done, err := s.subs.Start(ctx)
	if err != nil {
		return "", err
	}
	var p *goredis.PubSub
	if len(keys) == 0 {
		p = s.client.PSubscribe(subCtx, s.channel("*"))
	} else {
		channels := make([]string, len(keys))
		for i, k := range keys {
			channels[i] = s.channel(k)
		}
		p = s.client.Subscribe(subCtx, channels...)
	}
	// Wait for Redis to confirm every channel, so a change made after
	// Subscribe returns is seen.
	want := max(len(keys), 1)
	for range want {
		if _, err := p.Receive(ctx); err != nil {
			_ = p.Close()
			done()
			return "", fmt.Errorf("redis subscribe: %w", err)
		}
	}
	go func() {
		defer done()
		defer p.Close()
		prefix := s.channel("")
		msgs := p.Channel()
		for {
			select {
			case <-subCtx.Done():
				return
			case msg, ok := <-msgs:
				if !ok {
					return
				}
				key := strings.TrimPrefix(msg.Channel, prefix)
				items, err := s.Get(subCtx, []string{key}, md)
				if err != nil {
					s.log.Warn("configuration change not reported: cannot read the key", "key", key, "error", err)
					continue
				}
				if len(items) == 0 {
					items = map[string]*configuration.Item{key: {}}
				}
				if err := h(subCtx, &configuration.Update{ID: id, Items: items}); err != nil && subCtx.Err() == nil {
					s.log.Warn("configuration change not delivered", "key", key, "subscription", id, "error", err)
				}
			}
		}
	}()
	return id, nil
}

// enableNotifications turns keyspace notifications on when the server has
// none configured, and warns when what it has cannot report string
// changes.
func (s *Store) enableNotifications(ctx context.Context) error {
	cfg, err := s.client.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil {
		return fmt.Errorf("redis CONFIG GET notify-keyspace-events: %w", err)
	}
	cur := cfg["notify-keyspace-events"]
	if cur == "" {
		if err := s.client.ConfigSet(ctx, "notify-keyspace-events", keyspaceEvents).Err(); err != nil {
			return fmt.Errorf("redis has keyspace notifications off and refused CONFIG SET notify-keyspace-events %s: %w", keyspaceEvents, err)
		}
		s.log.Info("turned Redis keyspace notifications on (notify-keyspace-events was empty)", "events", keyspaceEvents)
		return nil
	}
	if !strings.Contains(cur, "K") || !(strings.Contains(cur, "$") || strings.Contains(cur, "A")) {
		s.log.Warn("Redis notify-keyspace-events does not include keyspace events for strings (K and $ or A); changes will not be reported. cove leaves the server's setting alone", "notify-keyspace-events", cur)
	}
	return nil
}

// Unsubscribe ends the subscription id.
func (s *Store) Unsubscribe(_ context.Context, id string) error { return s.subs.Unsubscribe(id) }

// Close ends every subscription, waits for them and closes the pool.
func (s *Store) Close() error {
	s.subs.Close()
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}
