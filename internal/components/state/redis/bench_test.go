package redis_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/state"
)

// The benchmarks compare the store with the bare go-redis call an
// application would make on the same server and key layout: HMGET of the
// data and version fields for a read, one HSET of both for a write (the
// store runs a Lua script that also checks conditions and sets the TTL).
// Besides ns/op for the store they report raw-ns/op for the direct call
// and x-raw, the store's time as a multiple of it.

const benchValue = `{"orderId":42,"items":["apple","pear"],"total":12.5}`

// timeRaw runs op b.N times and returns how long that took.
func timeRaw(b *testing.B, op func(i int) error) time.Duration {
	b.Helper()
	start := time.Now()
	for i := range b.N {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

func report(b *testing.B, raw time.Duration) {
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	if raw > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(raw), "x-raw")
	}
}

func BenchmarkGet(b *testing.B) {
	needRedis(b)
	s := open(b, map[string]string{"redisHost": addr})
	c, prefix := raw(b)
	key := prefix + "app||order"
	if err := s.Set(b.Context(), &state.SetRequest{Key: key, Value: []byte(benchValue)}); err != nil {
		b.Fatal(err)
	}
	rawTime := timeRaw(b, func(int) error { return c.HMGet(b.Context(), key, "data", "version").Err() })

	b.ResetTimer()
	for range b.N {
		if _, err := s.Get(b.Context(), &state.GetRequest{Key: key}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, rawTime)
}

func BenchmarkSet(b *testing.B) {
	needRedis(b)
	s := open(b, map[string]string{"redisHost": addr})
	c, prefix := raw(b)
	rawTime := timeRaw(b, func(i int) error {
		return c.HSet(b.Context(), prefix+"raw-"+strconv.Itoa(i%100), "data", benchValue, "version", i).Err()
	})

	b.ResetTimer()
	for i := range b.N {
		req := &state.SetRequest{Key: prefix + "app||order-" + strconv.Itoa(i%100), Value: []byte(benchValue)}
		if err := s.Set(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, rawTime)
}
