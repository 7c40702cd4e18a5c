package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components/configuration/conformance"
)

// TestSDKConfiguration runs an HTTP app with a configuration.redis and a
// configuration.postgresql store (a table of the test's own with Dapr's
// trigger) and reads and subscribes through the official Go SDK; an HTTP
// subscription's updates reach the app as daprd POSTs them.
func TestSDKConfiguration(t *testing.T) {
	ctx := t.Context()
	require := os.Getenv("COVE_REQUIRE_SERVICES") != ""
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() }) // after the cleanups below, which use it
	const pgConn = "host=127.0.0.1 port=5432 user=postgres database=test sslmode=disable"
	pg, err := pgxpool.New(ctx, pgConn)
	if err == nil {
		err = pg.Ping(ctx)
	}
	if err == nil {
		err = rdb.Ping(ctx).Err()
	}
	if err != nil {
		if require {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(pg.Close)
	p := conformance.Unique()
	table := strings.TrimSuffix(p, "_")
	for _, q := range []string{
		`CREATE TABLE ` + table + ` (key VARCHAR NOT NULL, value VARCHAR NOT NULL, version VARCHAR NOT NULL, metadata JSON)`,
		`CREATE FUNCTION ` + table + `_notify() RETURNS TRIGGER AS $$
DECLARE data json; notification json;
BEGIN
  IF (TG_OP = 'DELETE') THEN data = row_to_json(OLD); ELSE data = row_to_json(NEW); END IF;
  notification = json_build_object('table', TG_TABLE_NAME, 'action', TG_OP, 'data', data);
  PERFORM pg_notify('` + table + `', notification::text);
  RETURN NULL;
END; $$ LANGUAGE plpgsql`,
		`CREATE TRIGGER ` + table + ` AFTER INSERT OR UPDATE OR DELETE ON ` + table + ` FOR EACH ROW EXECUTE PROCEDURE ` + table + `_notify()`,
		`INSERT INTO ` + table + ` VALUES ('greeting', 'hello', '1', NULL)`,
	} {
		if _, err := pg.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c := context.Background()
		pg.Exec(c, `DROP TABLE IF EXISTS `+table)
		pg.Exec(c, `DROP FUNCTION IF EXISTS `+table+`_notify`)
		keys, _ := rdb.Keys(c, p+"*").Result()
		if len(keys) > 0 {
			rdb.Del(c, keys...)
		}
	})
	rdb.Set(ctx, p+"color", "blue||1", 0)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "cove.yaml", fmt.Sprintf("apps:\n  - file: app.yaml\n    command: [%q]\n    env: {COVE_E2E_APP: http}\ncomponents:\n  - {name: redisconf, file: redis.yaml}\n  - {name: pgconf, file: pg.yaml}\n", exe))
	writeFile(t, dir, "app.yaml", `name: web
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
    dapr: {enabled: true, appId: web, appPort: 8000}
  template:
    containers: [{name: main, image: x}]
`)
	writeFile(t, dir, "redis.yaml", "componentType: configuration.redis\nversion: v1\nmetadata:\n  - {name: redisHost, value: \"127.0.0.1:6379\"}\n")
	writeFile(t, dir, "pg.yaml", fmt.Sprintf("componentType: configuration.postgresql\nversion: v1\nmetadata:\n  - {name: connectionString, value: %q}\n  - {name: table, value: %s}\n  - {name: notifyChannel, value: %s}\n", pgConn, table, table))
	e := up(t, filepath.Join(dir, "cove.yaml"))
	r := e.status().Apps[0].Replicas[0]
	c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	items, err := c.GetConfigurationItems(ctx, "redisconf", []string{p + "color"})
	if err != nil || items[p+"color"] == nil || items[p+"color"].Value != "blue" || items[p+"color"].Version != "1" {
		t.Fatalf("redis GetConfigurationItems = %v, %v", items, err)
	}
	items, err = c.GetConfigurationItems(ctx, "pgconf", []string{"greeting"})
	if err != nil || items["greeting"] == nil || items["greeting"].Value != "hello" {
		t.Fatalf("postgresql GetConfigurationItems = %v, %v", items, err)
	}

	got := make(chan string, 8)
	for _, sub := range []struct{ store, key string }{{"redisconf", p + "color"}, {"pgconf", "greeting"}} {
		_, err := c.SubscribeConfigurationItems(ctx, sub.store, []string{sub.key}, func(_ string, items map[string]*dapr.ConfigurationItem) {
			for k, it := range items {
				got <- sub.store + ":" + k + "=" + it.Value
			}
		})
		if err != nil {
			t.Fatalf("SubscribeConfigurationItems(%s): %v", sub.store, err)
		}
	}
	// Over HTTP: updates are POSTed to the app, which logs the path.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/configuration/redisconf/subscribe?key=%scolor", r.DaprHTTPPort, p))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sub struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &sub) != nil || sub.ID == "" {
		t.Fatalf("HTTP subscribe = %d %s", resp.StatusCode, body)
	}

	rdb.Set(ctx, p+"color", "green||2", 0)
	if _, err := pg.Exec(ctx, `UPDATE `+table+` SET value = 'bonjour', version = '2' WHERE key = 'greeting'`); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"redisconf:" + p + "color=green": true, "pgconf:greeting=bonjour": true}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case s := <-got:
			delete(want, s)
		case <-deadline:
			t.Fatalf("updates not received through the SDK: %v", want)
		}
	}
	e.waitFor("request /configuration/redisconf/"+p+"color", 10*time.Second)
}
