package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/components/state/redis"
)

const addr = "127.0.0.1:6379"

// needRedis skips when Redis is not running, unless COVE_REQUIRE_SERVICES
// says the run must use it.
func needRedis(t testing.TB) {
	t.Helper()
	conformance.NeedService(t, "Redis", addr)
}

func open(t testing.TB, props map[string]string) *redis.Store {
	t.Helper()
	s, err := tryOpen(t, props)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return s
}

func tryOpen(t testing.TB, props map[string]string) (*redis.Store, error) {
	t.Helper()
	info, err := components.Lookup(redis.Type, "v1")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	s, ok := info.New().(*redis.Store)
	if !ok {
		t.Fatalf("%s does not build a *redis.Store", redis.Type)
	}
	md := components.Metadata{Name: "statestore", Type: redis.Type, Version: "v1", Properties: props}
	if err := s.Init(t.Context(), md); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, nil
}

// raw returns a plain client and a key prefix unique to this test; the
// test's keys are deleted when it ends.
func raw(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "cove-test-" + hex.EncodeToString(b) + "-"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	return c, prefix
}

func TestConformance(t *testing.T) {
	needRedis(t)
	conformance.Run(t, func(t *testing.T) state.Store {
		return open(t, map[string]string{"redisHost": addr})
	}, conformance.VersionETags(), conformance.LastWriteIgnoresETag())
}

func TestInitUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	_ = l.Close()
	start := time.Now()
	_, err = tryOpen(t, map[string]string{"redisHost": dead, "dialTimeout": "1s"})
	if err == nil || !strings.Contains(err.Error(), dead) {
		t.Fatalf("init error = %v, want one naming %s", err, dead)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("init took %s to fail", time.Since(start))
	}
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]string
		wantErr string
	}{
		{"no host", map[string]string{}, "redisHost is required"},
		{"only commas", map[string]string{"redisHost": " , "}, "redisHost is required"},
		{"port conflict", map[string]string{"redisHost": "localhost:6379", "redisPort": "6380"}, "redisPort"},
		{"bad port", map[string]string{"redisHost": "localhost", "redisPort": "http"}, "redisPort"},
		{"bad db", map[string]string{"redisHost": addr, "redisDB": "one"}, "redisDB"},
		{"bad ttl", map[string]string{"redisHost": addr, "ttlInSeconds": "1h"}, "ttlInSeconds"},
		{"bad tls flag", map[string]string{"redisHost": addr, "enableTLS": "yes please"}, "enableTLS"},
		{"bad duration", map[string]string{"redisHost": addr, "dialTimeout": "soon"}, "dialTimeout"},
		{"duration out of range", map[string]string{"redisHost": addr, "readTimeout": "9999999999999999"}, `readTimeout "9999999999999999": out of range`},
		{"bad type", map[string]string{"redisHost": addr, "redisType": "sharded"}, "redisType"},
		{"failover without master", map[string]string{"redisHost": addr, "failover": "true"}, "sentinelMasterName"},
		{"cert without key", map[string]string{"redisHost": addr, "clientCert": "x"}, "clientKey"},
		{"token auth", map[string]string{"redisHost": addr, "useEntraID": "true"}, "not supported"},
		{"every problem at once", map[string]string{"redisDB": "x", "poolSize": "y"}, "poolSize"},
		{"query indexes not JSON", map[string]string{"redisHost": addr, "queryIndexes": "orgIndx"}, "metadata queryIndexes: not a JSON list"},
		{"query index type", map[string]string{"redisHost": addr, "queryIndexes": `[{"name":"i","indexes":[{"key":"a.b","type":"TAG"}]}]`}, `queryIndexes[0].indexes[0].type "TAG": use TEXT or NUMERIC`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryOpen(t, tt.props)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("init error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// queryIndexes ask for RediSearch and RedisJSON; a server without them is
// refused at start with the reason, not at the first query.
func TestQueryIndexesNeedRedisStack(t *testing.T) {
	needRedis(t)
	_, err := tryOpen(t, map[string]string{"redisHost": addr,
		"queryIndexes": `[{"name":"orgIndx","indexes":[{"key":"person.org","type":"TEXT"}]}]`})
	const want = "metadata queryIndexes: the query API on Redis needs RediSearch and RedisJSON, which this server does not load"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("init error = %v, want one containing %q", err, want)
	}
}

func TestMetadataKeysCaseInsensitiveWithPort(t *testing.T) {
	needRedis(t)
	host, port, _ := net.SplitHostPort(addr)
	s := open(t, map[string]string{"REDISHOST": host, "redisport": port, "redisdb": "0", "maxRetries": "2", "dialTimeout": "2000"})
	_, prefix := raw(t)
	if err := s.Set(t.Context(), &state.SetRequest{Key: prefix + "k", Value: []byte("v")}); err != nil {
		t.Fatalf("set: %v", err)
	}
}

// TestMetadataDaprForms checks that values daprd accepts for Redis start
// the store the same way: its boolean forms, aliases, and milliseconds or
// -1 ("disabled") for durations; keys only the sidecar reads are fine too.
func TestMetadataDaprForms(t *testing.T) {
	needRedis(t)
	s := open(t, map[string]string{"redisHost": addr, "enableTLS": "no", "failover": "off", "useAzureAD": "False",
		"redisMaxRetryInterval": "-1", "readTimeout": "3000", "writeTimeout": "3s", "idleCheckFrequency": "60000",
		"keyPrefix": "none", "actorStateStore": "true"})
	_, prefix := raw(t)
	if err := s.Set(t.Context(), &state.SetRequest{Key: prefix + "k", Value: []byte("v")}); err != nil {
		t.Fatalf("set: %v", err)
	}
}

// TestDaprLayout checks that a key is the hash Dapr's store writes (data
// and an integer version), in both directions.
func TestDaprLayout(t *testing.T) {
	needRedis(t)
	s := open(t, map[string]string{"redisHost": addr})
	c, prefix := raw(t)
	ctx := t.Context()

	// As daprd writes it.
	theirs := prefix + "app||theirs"
	if err := c.HSet(ctx, theirs, "data", `{"from":"daprd"}`, "version", "3").Err(); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Get(ctx, &state.GetRequest{Key: theirs})
	if err != nil || string(resp.Data) != `{"from":"daprd"}` || resp.ETag == nil || *resp.ETag != "3" {
		t.Fatalf("get daprd's key: %q etag %v, %v", resp.Data, resp.ETag, err)
	}
	if err := s.Set(ctx, &state.SetRequest{Key: theirs, Value: []byte(`{"from":"cove"}`), ETag: new("3")}); err != nil {
		t.Fatalf("conditional set with daprd's version: %v", err)
	}
	if v, _ := c.HGet(ctx, theirs, "version").Result(); v != "4" {
		t.Fatalf("version after update = %q, want 4", v)
	}
	// A plain string, as very old versions wrote, reads without an ETag.
	old := prefix + "app||old"
	if err := c.Set(ctx, old, "legacy", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if resp, err := s.Get(ctx, &state.GetRequest{Key: old}); err != nil || string(resp.Data) != "legacy" || resp.ETag != nil {
		t.Fatalf("get plain string: %q etag %v, %v", resp.Data, resp.ETag, err)
	}
	// and a write replaces it with a hash.
	if err := s.Set(ctx, &state.SetRequest{Key: old, Value: []byte("new")}); err != nil {
		t.Fatalf("set over a plain string: %v", err)
	}

	// As cove writes it: what daprd's HGETALL-based read needs.
	mine := prefix + "app||mine"
	if err := s.Set(ctx, &state.SetRequest{Key: mine, Value: []byte{0x00, 0xff, 'x'}}); err != nil {
		t.Fatal(err)
	}
	fields, err := c.HGetAll(ctx, mine).Result()
	if err != nil {
		t.Fatal(err)
	}
	if fields["data"] != "\x00\xffx" || len(fields) != 2 {
		t.Fatalf("hash fields = %q, want data and version only", fields)
	}
	if _, err := strconv.ParseInt(fields["version"], 10, 64); err != nil {
		t.Fatalf("version %q is not an integer", fields["version"])
	}
	if ttl := c.TTL(ctx, mine).Val(); ttl != -1 {
		t.Fatalf("ttl of a key without ttlInSeconds = %s, want none", ttl)
	}
}

func TestDefaultTTL(t *testing.T) {
	needRedis(t)
	s := open(t, map[string]string{"redisHost": addr, "ttlInSeconds": "100"})
	c, prefix := raw(t)
	ctx := t.Context()
	cases := []struct {
		name    string
		md      map[string]string
		wantTTL func(time.Duration) bool
	}{
		{"component default", nil, func(d time.Duration) bool { return d > 90*time.Second && d <= 100*time.Second }},
		{"request overrides", map[string]string{"ttlInSeconds": "10"}, func(d time.Duration) bool { return d > 0 && d <= 10*time.Second }},
		{"request disables", map[string]string{"ttlInSeconds": "-1"}, func(d time.Duration) bool { return d == -1 }},
	}
	for _, tc := range cases {
		k := prefix + strings.ReplaceAll(tc.name, " ", "-")
		if err := s.Set(ctx, &state.SetRequest{Key: k, Value: []byte("v"), Metadata: tc.md}); err != nil {
			t.Fatalf("%s: set: %v", tc.name, err)
		}
		if got := c.TTL(ctx, k).Val(); !tc.wantTTL(got) {
			t.Fatalf("%s: ttl = %s", tc.name, got)
		}
	}
}

// TestConcurrentTransactions races transactions that each pair a
// conditional write of one key with a write of another: exactly one may
// win per round, and the second key must carry the winner's mark, which
// only holds when the conditions are checked and applied atomically.
func TestConcurrentTransactions(t *testing.T) {
	needRedis(t)
	s := open(t, map[string]string{"redisHost": addr})
	_, prefix := raw(t)
	ctx := t.Context()
	guard, mark := prefix+"guard", prefix+"mark"
	if err := s.Set(ctx, &state.SetRequest{Key: guard, Value: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	const rounds, writers = 5, 6
	for r := range rounds {
		resp, err := s.Get(ctx, &state.GetRequest{Key: guard})
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []int
		)
		for w := range writers {
			wg.Go(func() {
				err := s.Multi(ctx, &state.TransactionRequest{Operations: []state.Operation{
					{Set: &state.SetRequest{Key: mark, Value: []byte(strconv.Itoa(w))}},
					{Set: &state.SetRequest{Key: guard, Value: []byte(strconv.Itoa(r)), ETag: resp.ETag}},
				}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, w)
				case !errors.Is(err, state.ErrETagMismatch):
					t.Errorf("round %d writer %d: %v", r, w, err)
				}
			})
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("round %d: %d transactions won, want 1", r, len(wins))
		}
		got, err := s.Get(ctx, &state.GetRequest{Key: mark})
		if err != nil || string(got.Data) != strconv.Itoa(wins[0]) {
			t.Fatalf("round %d: mark = %q, %v; want the winner %d", r, got.Data, err, wins[0])
		}
	}
}

func TestStrongConsistencyWithoutReplicas(t *testing.T) {
	needRedis(t)
	s := open(t, map[string]string{"redisHost": addr})
	_, prefix := raw(t)
	strong := state.Options{Consistency: state.Strong}
	if err := s.Set(t.Context(), &state.SetRequest{Key: prefix + "k", Value: []byte("v"), Options: strong}); err != nil {
		t.Fatalf("strong set: %v", err)
	}
	if err := s.Delete(t.Context(), &state.DeleteRequest{Key: prefix + "k", Options: strong}); err != nil {
		t.Fatalf("strong delete: %v", err)
	}
}

// TestConcurrentReadsBatched reads many distinct keys at once, so that the
// store coalesces them into pipelines, and checks each caller gets its own
// key's value and ETag, and a missing key stays missing.
func TestConcurrentReadsBatched(t *testing.T) {
	needRedis(t)
	s := open(t, map[string]string{"redisHost": addr})
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	base := "cove-test-batch-" + hex.EncodeToString(id) + "-"
	const n = 300
	etags := make([]string, n)
	for i := range n {
		key := base + strconv.Itoa(i)
		if err := s.Set(t.Context(), &state.SetRequest{Key: key, Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(t.Context(), &state.GetRequest{Key: key})
		if err != nil || got.ETag == nil {
			t.Fatalf("get %s: %v", key, err)
		}
		etags[i] = *got.ETag
		t.Cleanup(func() { _ = s.Delete(context.Background(), &state.DeleteRequest{Key: key}) })
	}
	var wg sync.WaitGroup
	for round := range 5 {
		for i := range n {
			wg.Go(func() {
				key := base + strconv.Itoa(i)
				if i%50 == 0 {
					key += "-missing"
				}
				got, err := s.Get(t.Context(), &state.GetRequest{Key: key})
				switch {
				case err != nil:
					t.Errorf("round %d get %s: %v", round, key, err)
				case i%50 == 0 && (got.Data != nil || got.ETag != nil):
					t.Errorf("round %d: missing key %s read as %q", round, key, got.Data)
				case i%50 != 0 && (string(got.Data) != strconv.Itoa(i) || got.ETag == nil || *got.ETag != etags[i]):
					t.Errorf("round %d: %s = %q etag %v, want %d etag %s", round, key, got.Data, got.ETag, i, etags[i])
				}
			})
		}
	}
	wg.Wait()
}
