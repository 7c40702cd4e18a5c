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

	e, c := upConfigurationApp(t, map[string]string{
		"redisconf": "componentType: configuration.redis\nversion: v1\nmetadata:\n  - {name: redisHost, value: \"127.0.0.1:6379\"}\n",
		"pgconf":    fmt.Sprintf("componentType: configuration.postgresql\nversion: v1\nmetadata:\n  - {name: connectionString, value: %q}\n  - {name: table, value: %s}\n  - {name: notifyChannel, value: %s}\n", pgConn, table, table),
	})

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
	subscribeHTTP(t, e, "redisconf", p+"color")

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

// TestLocalFileConfiguration runs an HTTP app with a configuration.local.file
// store: the SDK reads the file's items, and a rewrite of the file reaches
// both an SDK subscription (a removed key as an empty value) and the app,
// POSTed by an HTTP subscription.
func TestLocalFileConfiguration(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	items := filepath.Join(dir, "items.yaml")
	rewrite := func(content string) {
		t.Helper()
		writeFile(t, dir, "items.tmp", content)
		if err := os.Rename(filepath.Join(dir, "items.tmp"), items); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("color: {value: blue, version: \"1\"}\nsize: 10\n")
	e, c := upConfigurationApp(t, map[string]string{
		"fileconf": fmt.Sprintf("componentType: configuration.local.file\nversion: v1\nmetadata:\n  - {name: filePath, value: %q}\n  - {name: pollInterval, value: 100ms}\n", items),
	})

	got, err := c.GetConfigurationItems(ctx, "fileconf", nil)
	if err != nil || len(got) != 2 || got["color"].Value != "blue" || got["color"].Version != "1" || got["size"].Value != "10" {
		t.Fatalf("GetConfigurationItems = %v, %v; want color blue (version 1) and size 10", got, err)
	}
	updates := make(chan string, 8)
	if _, err := c.SubscribeConfigurationItems(ctx, "fileconf", nil, func(_ string, items map[string]*dapr.ConfigurationItem) {
		for k, it := range items {
			updates <- k + "=" + it.Value
		}
	}); err != nil {
		t.Fatal(err)
	}
	subscribeHTTP(t, e, "fileconf", "color")

	rewrite("color: {value: green, version: \"2\"}\n")
	want := map[string]bool{"color=green": true, "size=": true}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case s := <-updates:
			delete(want, s)
		case <-deadline:
			t.Fatalf("updates not received through the SDK: %v", want)
		}
	}
	e.waitFor("request /configuration/fileconf/color", 10*time.Second)
}

// upConfigurationApp starts an environment with one HTTP app, web, and the
// components (ACA format) by name, and returns it with an SDK client of the
// app's sidecar.
func upConfigurationApp(t *testing.T, comps map[string]string) (*env, dapr.Client) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cove := fmt.Sprintf("apps:\n  - file: app.yaml\n    command: [%q]\n    env: {COVE_E2E_APP: http}\ncomponents:\n", exe)
	for name, content := range comps {
		writeFile(t, dir, name+".yaml", content)
		cove += fmt.Sprintf("  - {name: %s, file: %s.yaml}\n", name, name)
	}
	writeFile(t, dir, "cove.yaml", cove)
	writeFile(t, dir, "app.yaml", `name: web
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
    dapr: {enabled: true, appId: web, appPort: 8000}
  template:
    containers: [{name: main, image: x}]
`)
	e := up(t, filepath.Join(dir, "cove.yaml"))
	r := e.status().Apps[0].Replicas[0]
	c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return e, c
}

// subscribeHTTP subscribes to key of store over HTTP: its updates are
// POSTed to the app, which logs the path.
func subscribeHTTP(t *testing.T, e *env, store, key string) {
	t.Helper()
	r := e.status().Apps[0].Replicas[0]
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/configuration/%s/subscribe?key=%s", r.DaprHTTPPort, store, key))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sub struct{ ID string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &sub) != nil || sub.ID == "" {
		t.Fatalf("HTTP subscribe = %d %s", resp.StatusCode, body)
	}
}
