package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/components/configuration/conformance"
	"github.com/cove-env/cove/internal/components/configuration/redis"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:6379"

// backend writes items as Dapr documents them: "value||version".
type backend struct {
	c    *goredis.Client
	keys map[string]bool
}

func (b *backend) Set(t *testing.T, key, value, version string) {
	t.Helper()
	v := value
	if version != "" {
		v += "||" + version
	}
	if err := b.c.Set(t.Context(), key, v, 0).Err(); err != nil {
		t.Fatal(err)
	}
	b.keys[key] = true
}

func (b *backend) Delete(t *testing.T, key string) {
	t.Helper()
	if err := b.c.Del(t.Context(), key).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	b := &backend{c: goredis.NewClient(&goredis.Options{Addr: addr}), keys: map[string]bool{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for k := range b.keys {
			b.c.Del(ctx, k)
		}
		b.c.Close()
	})
	conformance.Run(t, func(t *testing.T) configuration.Store {
		st, err := conformance.Open(t, redis.Type, map[string]string{"redisHost": addr})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, b)
}

func TestValueWithoutVersionAndOtherTypes(t *testing.T) {
	stateconformance.NeedService(t, "Redis", addr)
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() }) // after the cleanup below, which uses it
	p := conformance.Unique()
	ctx := t.Context()
	c.Set(ctx, p+"plain", "v", 0)
	c.Set(ctx, p+"three", "v||2||x", 0)
	c.LPush(ctx, p+"list", "x")
	c.Set(ctx, p+"empty", "", 0)
	t.Cleanup(func() { c.Del(context.Background(), p+"plain", p+"three", p+"list", p+"empty") })
	st, err := conformance.Open(t, redis.Type, map[string]string{"redisHost": addr})
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.Get(ctx, []string{p + "plain", p + "three", p + "list", p + "empty"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[p+"plain"].Value != "v" || items[p+"plain"].Version != "" ||
		items[p+"three"].Value != "v" || items[p+"three"].Version != "2" {
		t.Fatalf("Get = %v; want plain (v, no version) and three (v, version 2); a list and an empty value left out", items)
	}
}

func TestInitNamesUnreachableAddress(t *testing.T) {
	_, err := conformance.Open(t, redis.Type, map[string]string{"redisHost": "127.0.0.1:1", "dialTimeout": "200"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Init = %v; want an error naming the address", err)
	}
}
