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

// A batch that blocks (here BLPOP for a second) passes the turn on: reads
// sent after it finish long before it does.
func TestSlowBatchPassesTheTurn(t *testing.T) {
	client, prefix := testClient(t)
	b := newBatcher(client, 10*time.Second)
	defer b.close()
	ctx := t.Context()
	if err := client.Set(ctx, prefix+"k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer client.Del(context.Background(), prefix+"k")

	blocked := make(chan error, 1)
	go func() { blocked <- b.do(ctx, goredis.NewStringSliceCmd(ctx, "blpop", prefix+"list", 1)) }()
	time.Sleep(50 * time.Millisecond) // the BLPOP is on its way
	for i := range 20 {
		cmd := goredis.NewStringCmd(ctx, "get", prefix+"k")
		if err := b.do(ctx, cmd); err != nil || cmd.Val() != "v" {
			t.Fatalf("get %d: %q, %v", i, cmd.Val(), err)
		}
		select {
		case <-blocked:
			t.Fatalf("get %d finished only after the blocked batch", i)
		default:
		}
	}
	if err := <-blocked; err != goredis.Nil {
		t.Fatalf("BLPOP on an empty list: %v, want redis.Nil", err)
	}
}

// Concurrent scripts in one batch each get their own answer, and a script
// Redis has not loaded yet (NOSCRIPT) runs through EVAL.
func TestBatchedScripts(t *testing.T) {
	client, prefix := testClient(t)
	s := &Store{client: client, batch: newBatcher(client, 10*time.Second)}
	defer s.batch.close()
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
