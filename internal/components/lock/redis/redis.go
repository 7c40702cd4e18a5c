// Package redis is the lock.redis store, as Dapr's: a lease is a key set
// with SET NX PX holding the owner, released by a Lua script that deletes
// the key only when it still holds the caller's owner, so a lease that
// expired and was taken by another owner is never released by the first.
//
// Like Dapr's, it refuses a Redis Cluster (a lease written to a master
// that fails over before replicating would be lost) and a node with
// replicas unless it is reached through Sentinel (failover).
package redis

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/components/redisconn"
)

// Type is the component type this package registers.
const Type = "lock.redis"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ lock.Store = (*Store)(nil)

// unlock deletes the lease only if it holds ARGV[1]: -1 when there is no
// lease, -2 when another owner holds it, else DEL's count.
var unlock = goredis.NewScript(`local v = redis.call("get", KEYS[1])
if v == false then return -1 end
if v ~= ARGV[1] then return -2 end
return redis.call("del", KEYS[1])`)

// Store is the Redis lock store.
type Store struct {
	client goredis.UniversalClient
}

// New returns an uninitialised store.
func New() *Store { return &Store{} }

// connectedSlaves reads the replica count from INFO replication.
var connectedSlaves = regexp.MustCompile(`(?m)^connected_slaves:(\d+)`)

// Init reads Dapr's Redis connection metadata and checks that Redis
// answers and may hold leases.
func (s *Store) Init(ctx context.Context, md components.Metadata) error {
	m := struct {
		redisconn.Metadata
		lock.RuntimeMetadata
	}{Metadata: redisconn.Defaults()}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	conn, connErr := m.Metadata.Check()
	if err := errors.Join(err, connErr); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if conn.Cluster {
		return fmt.Errorf("%s %q: metadata redisType cluster: a lock store cannot use a Redis Cluster (a lease could be lost on failover); use a node, or Sentinel with failover", Type, md.Name)
	}
	client, err := conn.Connect(ctx)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if info, err := client.Info(ctx, "replication").Result(); err == nil && !m.Failover {
		if sub := connectedSlaves.FindStringSubmatch(info); sub != nil {
			if n, _ := strconv.Atoi(sub[1]); n > 0 {
				_ = client.Close()
				return fmt.Errorf("%s %q: Redis at %s has %d replicas; a lease could be lost on failover, so use Sentinel (failover: true) or a node without replicas", Type, md.Name, conn.Addr(), n)
			}
		}
	}
	s.client = client
	return nil
}

// TryLock sets the lease's key if it does not exist, expiring after expiry.
func (s *Store) TryLock(ctx context.Context, resource, owner string, expiry time.Duration) (bool, error) {
	ok, err := s.client.SetNX(ctx, resource, owner, expiry).Result()
	if err != nil {
		return false, fmt.Errorf("redis SET NX %s: %w", resource, err)
	}
	return ok, nil
}

// Unlock runs the compare-and-delete script.
func (s *Store) Unlock(ctx context.Context, resource, owner string) (lock.UnlockStatus, error) {
	n, err := unlock.Run(ctx, s.client, []string{resource}, owner).Int64()
	if err != nil {
		return lock.InternalError, fmt.Errorf("redis unlock %s: %w", resource, err)
	}
	switch {
	case n >= 0:
		return lock.Success, nil
	case n == -1:
		return lock.LockDoesNotExist, nil
	case n == -2:
		return lock.LockBelongsToOthers, nil
	}
	return lock.InternalError, fmt.Errorf("redis unlock %s: script answered %d", resource, n)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}
