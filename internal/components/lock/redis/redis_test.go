package redis_test

import (
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/components/lock"
	"github.com/cove-env/cove/internal/components/lock/conformance"
	"github.com/cove-env/cove/internal/components/lock/redis"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:6379"

func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	conformance.Run(t, func(t *testing.T) (lock.Store, lock.Store) {
		open := func() lock.Store {
			st, err := conformance.Open(t, redis.Type, map[string]string{"redisHost": addr})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		return open(), open()
	})
}

func TestInitRefusesCluster(t *testing.T) {
	_, err := conformance.Open(t, redis.Type, map[string]string{"redisHost": addr, "redisType": "cluster"})
	if err == nil || !strings.Contains(err.Error(), "redisType cluster") {
		t.Fatalf("Init with redisType cluster = %v; want an error naming redisType", err)
	}
}

func TestInitNamesUnreachableAddress(t *testing.T) {
	_, err := conformance.Open(t, redis.Type, map[string]string{"redisHost": "127.0.0.1:1", "dialTimeout": "200"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Init against a closed port = %v; want an error naming the address", err)
	}
}
