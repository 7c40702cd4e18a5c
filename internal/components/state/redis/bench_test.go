package redis_test

import (
	"strconv"
	"testing"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
)

// The benchmarks compare the store with the bare go-redis call an
// application would make on the same server and key layout: HMGET of the
// data and version fields for a read, one HSET of both for a write (the
// store runs a Lua script that also checks conditions and sets the TTL).
// Besides ns/op for the store they report raw-ns/op for the direct call
// and x-raw, the store's time as a multiple of it.

const benchValue = `{"orderId":42,"items":["apple","pear"],"total":12.5}`

func BenchmarkGet(b *testing.B) {
	needRedis(b)
	s := open(b, map[string]string{"redisHost": addr})
	c, prefix := raw(b)
	key := prefix + "app||order"
	if err := s.Set(b.Context(), &state.SetRequest{Key: key, Value: []byte(benchValue)}); err != nil {
		b.Fatal(err)
	}
	conformance.Compare(b,
		func(int) error { return c.HMGet(b.Context(), key, "data", "version").Err() },
		func(int) error {
			_, err := s.Get(b.Context(), &state.GetRequest{Key: key})
			return err
		})
}

func BenchmarkSet(b *testing.B) {
	needRedis(b)
	s := open(b, map[string]string{"redisHost": addr})
	c, prefix := raw(b)
	conformance.Compare(b,
		func(i int) error {
			return c.HSet(b.Context(), prefix+"raw-"+strconv.Itoa(i%100), "data", benchValue, "version", i).Err()
		},
		func(i int) error {
			return s.Set(b.Context(), &state.SetRequest{Key: prefix + "app||order-" + strconv.Itoa(i%100), Value: []byte(benchValue)})
		})
}
