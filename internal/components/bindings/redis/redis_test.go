package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/redis"
	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:6379"

func TestOperations(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	b, err := componenttest.Open[bindings.Output](t, redis.Type, map[string]string{"redisHost": addr})
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() }) // after the cleanup below, which uses it
	key := componenttest.Unique() + "k"
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	call := func(op string, data string, md ...string) (*bindings.Response, error) {
		m := map[string]string{"key": key}
		for i := 0; i+1 < len(md); i += 2 {
			m[md[i]] = md[i+1]
		}
		return b.Invoke(t.Context(), &bindings.Request{Operation: op, Data: []byte(data), Metadata: m})
	}
	if _, err := call("create", `{"n":1}`, "ttlInSeconds", "100"); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.TTL(t.Context(), key).Val(); ttl <= 0 || ttl > 100*time.Second {
		t.Errorf("TTL = %v; want up to 100s", ttl)
	}
	resp, err := call("get", "")
	if err != nil || string(resp.Data) != `{"n":1}` {
		t.Fatalf("get = %v, %v", resp, err)
	}
	if _, err := call("delete", ""); err != nil {
		t.Fatal(err)
	}
	if resp, err = call("get", ""); err != nil || len(resp.Data) != 0 {
		t.Fatalf("get of a missing key = %q, %v; want empty", resp.Data, err)
	}
	for range 3 {
		if _, err := call("increment", ""); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err = call("get", "", "delete", "true"); err != nil || string(resp.Data) != "3" {
		t.Fatalf("get with delete = %q, %v; want 3", resp.Data, err)
	}
	if n := rdb.Exists(t.Context(), key).Val(); n != 0 {
		t.Error("get with delete=true left the key")
	}
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "get"}); !errors.Is(err, bindings.ErrInvalid) {
		t.Errorf("get without a key = %v; want ErrInvalid", err)
	}
}
