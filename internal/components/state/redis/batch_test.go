package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/redisconn"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
)

func testClient(t *testing.T) (goredis.UniversalClient, string) {
	t.Helper()
	conformance.NeedService(t, "Redis", "127.0.0.1:6379")
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { c.Close() })
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	return c, "cove-test-batcher-" + hex.EncodeToString(id) + "-"
}

// Concurrent scripts in one batch each get their own answer, and a script
// Redis has not loaded yet (NOSCRIPT) runs through EVAL.
func TestBatchedScripts(t *testing.T) {
	client, prefix := testClient(t)
	s := &Store{client: client, batch: redisconn.NewBatcher(client, 10*time.Second)}
	defer s.batch.Close()
	// A script no one has loaded: its text is unique to this run.
	incr := goredis.NewScript(fmt.Sprintf("-- %s\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])", prefix))
	defer client.Del(context.Background(), prefix+"n")
	var wg sync.WaitGroup
	results := make([]int64, 100)
	for i := range 100 {
		wg.Go(func() {
			n, err := s.run(t.Context(), state.Options{}, incr, prefix+"n", 1)
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
			results[i] = n
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, n := range results {
		if n < 1 || n > 100 || seen[n] {
			t.Fatalf("results %v: each call must see its own increment", results)
		}
		seen[n] = true
	}
}
