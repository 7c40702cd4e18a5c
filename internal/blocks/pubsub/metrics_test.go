package pubsub

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/metrics"
)

// TestMetrics: publishes and deliveries are counted under daprd's pub/sub
// component metrics, with its labels.
func TestMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	d, err := metrics.NewDapr(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := d.Sidecar("app", metrics.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bus := newBus(t)
	s := New("app", Options{Metrics: rec})
	md := components.Metadata{Name: "pubsub", Properties: map[string]string{"publishingScopes": "app=ok,drop"}}
	if err := s.Add(md, bus); err != nil {
		t.Fatal(err)
	}
	a, ch := newApp(t, func(path string, _ map[string]any) (int, string) {
		if path == "/drop" {
			return http.StatusNotFound, ""
		}
		return http.StatusOK, ""
	})
	subscribe(t, s, ch, mustSub(t, "ok", nil, "ok", ""), mustSub(t, "drop", nil, "drop", ""))
	for _, topic := range []string{"ok", "drop", "other"} {
		_ = s.Publish(context.Background(), PublishRequest{Pubsub: "pubsub", Topic: topic, Data: []byte("x")})
	}
	a.next(t)
	a.next(t)
	want := []string{
		`dapr_component_pubsub_egress_count{app_id="app",component="pubsub",namespace="default",success="true",topic="ok"} 1`,
		`dapr_component_pubsub_egress_count{app_id="app",component="pubsub",namespace="default",success="false",topic="other"} 1`,
		`dapr_component_pubsub_ingress_count{app_id="app",component="pubsub",namespace="default",process_status="success",status="success",topic="ok"} 1`,
		`dapr_component_pubsub_ingress_count{app_id="app",component="pubsub",namespace="default",process_status="drop",status="success",topic="drop"} 1`,
		`dapr_component_pubsub_ingress_latencies_count{app_id="app",component="pubsub",namespace="default",process_status="success",status="success",topic="ok"} 1`,
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		text := scrape(metrics.Handler(reg))
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %s in the scrape:\n%s", missing, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scrape(reg http.Handler) string {
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return string(body)
}
