package redisconn_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/redisconn"
	"github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:6379"

// A batch that blocks (here BLPOP for a second) passes the turn on: reads
// sent after it finish long before it does.
func TestSlowBatchPassesTheTurn(t *testing.T) {
	conformance.NeedService(t, "Redis", addr)
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	defer client.Close()
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	prefix := "cove-test-batcher-" + hex.EncodeToString(id) + "-"
	b := redisconn.NewBatcher(client, 10*time.Second)
	defer b.Close()
	ctx := t.Context()
	if err := client.Set(ctx, prefix+"k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer client.Del(context.Background(), prefix+"k")

	blocked := make(chan error, 1)
	go func() { blocked <- b.Do(ctx, goredis.NewStringSliceCmd(ctx, "blpop", prefix+"list", 1)) }()
	time.Sleep(50 * time.Millisecond) // the BLPOP is on its way
	for i := range 20 {
		cmd := goredis.NewStringCmd(ctx, "get", prefix+"k")
		if err := b.Do(ctx, cmd); err != nil || cmd.Val() != "v" {
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
