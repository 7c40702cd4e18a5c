package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/redis/go-redis/v9"
)

// TestSDKLock runs an app with two replicas and a lock.redis component
// and drives the lock API of both replicas' sidecars with the official Go
// SDK: contended by the two, a lease goes to exactly one; its owner
// releases it, the other owner cannot.
func TestSDKLock(t *testing.T) {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() }) // after the cleanup below, which uses it
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("COVE_REQUIRE_SERVICES") != "" {
			t.Fatalf("redis: %v", err)
		}
		t.Skipf("redis: %v", err)
	}
	prefix := "cove-e2e-lock-" + id
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), "lock||"+prefix+"||*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})

	dir := t.TempDir()
	files := map[string]string{
		"cove.yaml": "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n  - {name: lockstore, file: lock.yaml}\n  - {name: memlock, file: memlock.yaml}\n",
		"app.yaml": "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n" +
			"    scale: {minReplicas: 2, maxReplicas: 2}\n",
		"lock.yaml":    fmt.Sprintf("componentType: lock.redis\nversion: v1\nmetadata:\n  - {name: redisHost, value: \"127.0.0.1:6379\"}\n  - {name: keyPrefix, value: %s}\n", prefix),
		"memlock.yaml": "componentType: lock.in-memory\nversion: v1\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := up(t, filepath.Join(dir, "cove.yaml"))
	replicas := e.status().Apps[0].Replicas
	if len(replicas) != 2 {
		t.Fatalf("%d replicas, want 2", len(replicas))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	clients := make([]dapr.Client, 2)
	for i, r := range replicas {
		c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}

	for _, store := range []string{"lockstore", "memlock"} {
		t.Run(store, func(t *testing.T) {
			for round := range 3 {
				resource := fmt.Sprintf("order-%d", round)
				var (
					mu     sync.Mutex
					owners []string
					wg     sync.WaitGroup
				)
				for i, c := range clients {
					for j := range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							owner := fmt.Sprintf("replica%d-%d", i, j)
							res, err := c.TryLockAlpha1(ctx, store, &dapr.LockRequest{ResourceID: resource, LockOwner: owner, ExpiryInSeconds: 30})
							if err != nil {
								t.Errorf("TryLockAlpha1 by %s: %v", owner, err)
								return
							}
							if res.Success {
								mu.Lock()
								owners = append(owners, owner)
								mu.Unlock()
							}
						}()
					}
				}
				wg.Wait()
				if len(owners) != 1 {
					t.Fatalf("round %d: owners %v; want exactly one", round, owners)
				}
				winner := owners[0]
				other := "someone-else"
				for _, c := range clients {
					res, err := c.UnlockAlpha1(ctx, store, &dapr.UnlockRequest{ResourceID: resource, LockOwner: other})
					if err != nil || res.Status != "LOCK_BELONGS_TO_OTHERS" {
						t.Fatalf("unlock by a stranger = %+v, %v", res, err)
					}
				}
				res, err := clients[round%2].UnlockAlpha1(ctx, store, &dapr.UnlockRequest{ResourceID: resource, LockOwner: winner})
				if err != nil || res.Status != "SUCCESS" {
					t.Fatalf("unlock by the owner = %+v, %v", res, err)
				}
				res, err = clients[0].UnlockAlpha1(ctx, store, &dapr.UnlockRequest{ResourceID: resource, LockOwner: winner})
				if err != nil || res.Status != "LOCK_DOES_NOT_EXIST" {
					t.Fatalf("second unlock = %+v, %v", res, err)
				}
			}
		})
	}
	if _, err := clients[0].TryLockAlpha1(ctx, "nope", &dapr.LockRequest{ResourceID: "r", LockOwner: "o", ExpiryInSeconds: 1}); err == nil {
		t.Fatal("TryLockAlpha1 on an unknown store succeeded")
	}
}
