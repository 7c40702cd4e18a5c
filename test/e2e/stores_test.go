package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// TestSDKOnEveryStore runs one environment with every state store cove has,
// each a component in ACA's format, and drives each through the sidecar
// with the official Dapr Go SDK over gRPC and with curl over HTTP: the same
// calls behave the same whatever the backend. Each server-backed store gets
// its own key prefix or tables, dropped at the end.
func TestSDKOnEveryStore(t *testing.T) {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	ctx := t.Context()

	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	pg, pgErr := pgxpool.New(ctx, "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable")
	my, myErr := sql.Open("mysql", "root:@tcp(127.0.0.1:3306)/test")
	stores := map[string]string{
		"memory": "componentType: state.in-memory\nversion: v1\n",
		"sqlite": "componentType: state.sqlite\nversion: v1\nmetadata:\n  - {name: connectionString, value: e2e.db}\n",
	}
	require := os.Getenv("COVE_REQUIRE_SERVICES") != ""
	need := func(name string, err error) bool {
		if err == nil {
			return true
		}
		if require {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("skipping %s: %v", name, err)
		return false
	}
	if need("redis", rdb.Ping(ctx).Err()) {
		stores["redis"] = fmt.Sprintf("componentType: state.redis\nversion: v1\nmetadata:\n  - {name: redisHost, value: \"127.0.0.1:6379\"}\n  - {name: keyPrefix, value: cove-e2e-%s}\n", id)
		t.Cleanup(func() {
			keys, _ := rdb.Keys(context.Background(), "cove-e2e-"+id+"||*").Result()
			if len(keys) > 0 {
				rdb.Del(context.Background(), keys...)
			}
		})
	}
	if pgErr == nil {
		pgErr = pg.Ping(ctx)
	}
	if need("postgresql", pgErr) {
		t.Cleanup(pg.Close)
		conn := "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable"
		stores["pgv1"] = fmt.Sprintf("componentType: state.postgresql\nversion: v1\nmetadata:\n  - {name: connectionString, value: %q}\n  - {name: tableName, value: cove_e2e_%s}\n  - {name: metadataTableName, value: cove_e2e_meta1_%s}\n", conn, id, id)
		stores["pgv2"] = fmt.Sprintf("componentType: state.postgresql\nversion: v2\nmetadata:\n  - {name: connectionString, value: %q}\n  - {name: tablePrefix, value: cove_e2e2_%s_}\n  - {name: metadataTableName, value: cove_e2e_meta2_%s}\n", conn, id, id)
		t.Cleanup(func() {
			for _, tbl := range []string{"cove_e2e_" + id, "cove_e2e_meta1_" + id, "cove_e2e2_" + id + "_state", "cove_e2e_meta2_" + id} {
				if _, err := pg.Exec(context.Background(), "DROP TABLE IF EXISTS "+tbl); err != nil {
					t.Errorf("drop %s: %v", tbl, err)
				}
			}
		})
	}
	if myErr == nil {
		myErr = my.PingContext(ctx)
	}
	if need("mysql", myErr) {
		t.Cleanup(func() { my.Close() })
		stores["mysql"] = fmt.Sprintf("componentType: state.mysql\nversion: v1\nmetadata:\n  - {name: connectionString, value: \"root:@tcp(127.0.0.1:3306)/\"}\n  - {name: schemaName, value: test}\n  - {name: tableName, value: cove_e2e_%s}\n  - {name: metadataTableName, value: cove_e2e_meta_%s}\n", id, id)
		t.Cleanup(func() {
			for _, tbl := range []string{"cove_e2e_" + id, "cove_e2e_meta_" + id} {
				if _, err := my.ExecContext(context.Background(), "DROP TABLE IF EXISTS test."+tbl); err != nil {
					t.Errorf("drop %s: %v", tbl, err)
				}
			}
		})
	}

	dir := t.TempDir()
	cove := "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n"
	for name, yaml := range stores {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		cove += fmt.Sprintf("  - {name: %s, file: %s.yaml}\n", name, name)
	}
	app := "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n"
	for name, content := range map[string]string{"cove.yaml": cove, "app.yaml": app} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := up(t, filepath.Join(dir, "cove.yaml"))
	r := e.status().Apps[0].Replicas[0]
	c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for store := range stores {
		t.Run(store, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			// Written over HTTP with curl, read through the SDK: the same bytes.
			out, err := exec.CommandContext(ctx, "curl", "-s", "-f", "-X", "POST", "-H", "Content-Type: application/json",
				fmt.Sprintf("http://127.0.0.1:%d/v1.0/state/%s", r.DaprHTTPPort, store),
				"-d", `[{"key":"from-curl","value":{"name":"Jane Doe","urgency":"High"}}]`).CombinedOutput()
			if err != nil {
				t.Fatalf("curl save: %v %s", err, out)
			}
			item, err := c.GetState(ctx, store, "from-curl", nil)
			want := `{"name":"Jane Doe","urgency":"High"}`
			if store == "pgv1" {
				// v1 keeps values in a jsonb column and reads back
				// PostgreSQL's rendering of it, as daprd's store does.
				want = `{"name": "Jane Doe", "urgency": "High"}`
			}
			if err != nil || string(item.Value) != want {
				t.Fatalf("GetState(from-curl) = %q, %v; want %q", item.Value, err, want)
			}

			if err := c.SaveState(ctx, store, "k", []byte("v1"), nil); err != nil {
				t.Fatal(err)
			}
			item, err = c.GetState(ctx, store, "k", nil)
			if err != nil || string(item.Value) != "v1" || item.Etag == "" {
				t.Fatalf("GetState(k) = %q etag %q, %v", item.Value, item.Etag, err)
			}
			stale := item.Etag
			if store == "redis" && stale != "1" {
				t.Errorf("a new key's ETag on Redis is %q; Dapr's Redis store starts at 1", stale)
			}
			if err := c.SaveStateWithETag(ctx, store, "k", []byte("v2"), stale, nil); err != nil {
				t.Fatalf("save with the current ETag: %v", err)
			}
			fw := dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite)
			if err := c.SaveStateWithETag(ctx, store, "k", []byte("v3"), stale, nil, fw); err == nil {
				t.Fatal("first-write save with a stale ETag succeeded")
			}
			// The SDK saves with last-write unless told otherwise, and
			// Dapr's Redis store then ignores the ETag (the SDK's own service
			// example counts on it); its other stores check it.
			err = c.SaveStateWithETag(ctx, store, "k", []byte("v3"), stale, nil)
			if store == "redis" {
				if err != nil {
					t.Fatalf("last-write save with a stale ETag on Redis: %v", err)
				}
				out, err := exec.CommandContext(ctx, "curl", "-s", "-f", "-X", "POST", "-H", "Content-Type: application/json",
					fmt.Sprintf("http://127.0.0.1:%d/v1.0/state/%s", r.DaprHTTPPort, store),
					"-d", `[{"key":"k","value":2,"etag":"7","options":{"concurrency":"last-write"}}]`).CombinedOutput()
				if err != nil {
					t.Fatalf("curl last-write save with another ETag on Redis: %v %s", err, out)
				}
				if item, err := c.GetState(ctx, store, "k", nil); err != nil || string(item.Value) != "2" || item.Etag != "4" {
					t.Fatalf("GetState(k) after four writes = %q etag %q, %v; want 2, etag 4", item.Value, item.Etag, err)
				}
			} else if err == nil {
				t.Fatal("last-write save with a stale ETag succeeded")
			}
			if err := c.ExecuteStateTransaction(ctx, store, nil, []*dapr.StateOperation{
				{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{Key: "k2", Value: []byte("in a transaction")}},
				{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{Key: "k"}},
			}); err != nil {
				t.Fatalf("transaction: %v", err)
			}
			items, err := c.GetBulkState(ctx, store, []string{"k", "k2"}, nil, 2)
			if err != nil || len(items) != 2 {
				t.Fatalf("GetBulkState = %v, %v", items, err)
			}
			for _, it := range items {
				switch {
				case it.Key == "k" && len(it.Value) != 0:
					t.Errorf("k survived its deletion in the transaction: %q", it.Value)
				case it.Key == "k2" && string(it.Value) != "in a transaction":
					t.Errorf("k2 = %q", it.Value)
				}
			}
			for _, k := range []string{"k2", "from-curl"} {
				if err := c.DeleteState(ctx, store, k, nil); err != nil {
					t.Errorf("delete %s: %v", k, err)
				}
			}
			if item, err := c.GetState(ctx, store, "k2", nil); err != nil || len(item.Value) != 0 {
				t.Errorf("k2 after delete = %q, %v", item.Value, err)
			}
		})
	}
	e.stop()
}
