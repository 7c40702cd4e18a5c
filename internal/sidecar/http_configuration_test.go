package sidecar_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/blocks/configuration"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/configuration/conformance"
	"github.com/cove-env/cove/internal/components/configuration/redis"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/sidecar"
)

// confSidecar starts a sidecar whose configuration block holds "config",
// a real configuration.redis store, for an app at appAddr ("" for none).
// It returns the sidecar's addresses, a Redis client and the test's key
// prefix (its keys are deleted at the end).
func confSidecar(t *testing.T, appAddr string) (base, grpcAddr string, rdb *goredis.Client, p string) {
	t.Helper()
	stateconformance.NeedService(t, "Redis", "127.0.0.1:6379")
	md := components.Metadata{Name: "config", Type: redis.Type, Version: "v1", Properties: map[string]string{"redisHost": "127.0.0.1:6379"}}
	st := redis.New()
	if err := st.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := configuration.New("frontend", configuration.Options{})
	if err := svc.Add(md, st); err != nil {
		t.Fatal(err)
	}
	rdb = goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	p = conformance.Unique()
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), p+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
		rdb.Close()
	})
	base, grpcAddr = serveSidecar(t, sidecar.Config{AppID: "frontend", AppAddr: appAddr, Logger: slog.New(slog.DiscardHandler), Configuration: svc})
	return base, grpcAddr, rdb, p
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConfigurationHTTP(t *testing.T) {
	type call struct{ path, body string }
	calls := make(chan call, 10)
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			calls <- call{r.URL.Path, string(b)}
		}
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Serve(l) }()
	t.Cleanup(func() { _ = app.Close() })
	base, _, rdb, p := confSidecar(t, l.Addr().String())

	rdb.Set(t.Context(), p+"color", "blue||3", 0)
	for _, v := range []string{"/v1.0", "/v1.0-alpha1"} {
		code, body := get(t, base+v+"/configuration/config?key="+p+"color&key="+p+"missing")
		if want := `{"` + p + `color":{"value":"blue","version":"3"}}`; code != 200 || body != want {
			t.Fatalf("GET %s = %d %s; want 200 %s", v, code, body, want)
		}
	}
	if code, body := get(t, base+"/v1.0/configuration/config?key="+p+"missing"); code != 204 || body != "" {
		t.Fatalf("GET of a missing key = %d %q; want 204", code, body)
	}

	code, body := get(t, base+"/v1.0/configuration/config/subscribe?key="+p+"color")
	var sub struct{ ID string }
	if err := json.Unmarshal([]byte(body), &sub); code != 200 || err != nil || sub.ID == "" {
		t.Fatalf("subscribe = %d %s", code, body)
	}
	rdb.Set(t.Context(), p+"color", "green||4", 0)
	select {
	case c := <-calls:
		want := `{"id":"` + sub.ID + `","items":{"` + p + `color":{"value":"green","version":"4"}}}`
		if c.path != "/configuration/config/"+p+"color" || c.body != want {
			t.Fatalf("app got POST %s %s; want /configuration/config/%scolor %s", c.path, c.body, p, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the app got no update within 5s")
	}
	if code, body := get(t, base+"/v1.0/configuration/config/"+sub.ID+"/unsubscribe"); code != 200 || body != `{"ok":true}` {
		t.Fatalf("unsubscribe = %d %s", code, body)
	}
	rdb.Set(t.Context(), p+"color", "red||5", 0)
	select {
	case c := <-calls:
		t.Fatalf("update after unsubscribe: %+v", c)
	case <-time.After(500 * time.Millisecond):
	}
	code, body = get(t, base+"/v1.0/configuration/config/"+sub.ID+"/unsubscribe")
	if code != 500 || !strings.HasPrefix(body, `{"message":"failed to unsubscribe to configuration request `+sub.ID) {
		t.Fatalf("second unsubscribe = %d %s; want 500 with daprd's message", code, body)
	}

	code, body = get(t, base+"/v1.0/configuration/nope?key=a")
	if code != 400 || !strings.Contains(body, `"errorCode":"ERR_CONFIGURATION_STORE_NOT_FOUND"`) {
		t.Fatalf("unknown store = %d %s", code, body)
	}
}

func TestConfigurationSubscribeWithoutApp(t *testing.T) {
	base, _, _, _ := confSidecar(t, "")
	code, body := get(t, base+"/v1.0/configuration/config/subscribe?key=a")
	if code != 500 || !strings.Contains(body, "ERR_APP_CHANNEL_NIL") {
		t.Fatalf("subscribe without an app = %d %s", code, body)
	}
}

func TestConfigurationGoSDK(t *testing.T) {
	_, addr, rdb, p := confSidecar(t, "")
	ctx := t.Context()
	c, err := dapr.NewClientWithAddressContext(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rdb.Set(ctx, p+"size", "10||1", 0)
	items, err := c.GetConfigurationItems(ctx, "config", []string{p + "size"})
	if err != nil || items[p+"size"] == nil || items[p+"size"].Value != "10" || items[p+"size"].Version != "1" {
		t.Fatalf("GetConfigurationItems = %v, %v", items, err)
	}
	got := make(chan *dapr.ConfigurationItem, 4)
	id, err := c.SubscribeConfigurationItems(ctx, "config", []string{p + "size"}, func(_ string, items map[string]*dapr.ConfigurationItem) {
		if it := items[p+"size"]; it != nil {
			got <- it
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, p+"size", "20||2", 0)
	select {
	case it := <-got:
		if it.Value != "20" || it.Version != "2" {
			t.Fatalf("update = %+v", it)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	//lint:ignore SA1019 the deprecated RPC is still served, as by daprd
	if err := c.UnsubscribeConfigurationItems(ctx, "config", id); err != nil {
		t.Fatalf("UnsubscribeConfigurationItems: %v", err)
	}
	// A second time the id is unknown: daprd answers ok=false.
	conn := runtimev1pb.NewDaprClient(c.GrpcClientConn())
	res, err := conn.UnsubscribeConfiguration(ctx, &runtimev1pb.UnsubscribeConfigurationRequest{StoreName: "config", Id: id})
	if err != nil || res.GetOk() || !strings.Contains(res.GetMessage(), "subscription does not exist") {
		t.Fatalf("second unsubscribe = %v, %v", res, err)
	}
}

// TestConfigurationStreamEndsAtClose: a caller's open subscription stream
// does not hold the sidecar's stop until its deadline.
func TestConfigurationStreamEndsAtClose(t *testing.T) {
	stateconformance.NeedService(t, "Redis", "127.0.0.1:6379")
	md := components.Metadata{Name: "config", Type: redis.Type, Version: "v1", Properties: map[string]string{"redisHost": "127.0.0.1:6379"}}
	st := redis.New()
	if err := st.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := configuration.New("frontend", configuration.Options{})
	if err := svc.Add(md, st); err != nil {
		t.Fatal(err)
	}
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	sc, err := sidecar.New(sidecar.Config{AppID: "frontend", Logger: slog.New(slog.DiscardHandler), Configuration: svc, HTTPListener: hl, GRPCListener: gl})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := dapr.NewClientWithAddressContext(t.Context(), gl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.SubscribeConfigurationItems(t.Context(), "config", []string{"k"}, func(string, map[string]*dapr.ConfigurationItem) {}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := sc.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a subscription stream open", d)
	}
}

// TestConfigurationDeliveryRetried: an update the app fails is delivered
// again under the store's inbound policy.
func TestConfigurationDeliveryRetried(t *testing.T) {
	stateconformance.NeedService(t, "Redis", "127.0.0.1:6379")
	var posts atomic.Int32
	done := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		close(done)
	}))
	defer app.Close()
	md := components.Metadata{Name: "config", Type: redis.Type, Version: "v1", Properties: map[string]string{"redisHost": "127.0.0.1:6379"}}
	st := redis.New()
	if err := st.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := configuration.New("frontend", configuration.Options{Inbound: func(string) *resiliency.Policy {
		return &resiliency.Policy{Retry: &resiliency.Retry{Kind: resiliency.RetryConstant, Interval: time.Millisecond, MaxRetries: 2}}
	}})
	if err := svc.Add(md, st); err != nil {
		t.Fatal(err)
	}
	base, _ := serveSidecar(t, sidecar.Config{AppID: "frontend", AppAddr: strings.TrimPrefix(app.URL, "http://"), Logger: slog.New(slog.DiscardHandler), Configuration: svc})
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() }) // after the cleanup below, which uses it
	key := conformance.Unique() + "k"
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	if code, body := get(t, base+"/v1.0/configuration/config/subscribe?key="+key); code != 200 {
		t.Fatalf("subscribe = %d %s", code, body)
	}
	rdb.Set(t.Context(), key, "v", 0)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the update was not delivered again after the app failed it (%d posts)", posts.Load())
	}
}
