package pubsub

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/metrics"
)

// TestMetrics: publishes and deliveries are counted under daprd's pub/sub
// component metrics, with its labels.
func TestMetrics(t *testing.T) {
	reg, rec := newRecorder(t)
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
	waitScrape(t, reg, want)
}

// newRecorder returns a registry of the sidecar metrics and the recorder
// of app "app".
func newRecorder(t *testing.T) (*prometheus.Registry, *metrics.Sidecar) {
	t.Helper()
	reg := metrics.NewRegistry()
	d, err := metrics.NewDapr(reg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := d.Sidecar("app", metrics.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return reg, rec
}

// waitScrape waits until every line of want is in a scrape of reg.
func waitScrape(t *testing.T, reg *prometheus.Registry, want []string) {
	t.Helper()
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

// TestBulkMetrics: a bulk publish and the batches of a bulk subscription
// are counted under daprd's bulk pub/sub metrics, with its labels.
func TestBulkMetrics(t *testing.T) {
	reg, rec := newRecorder(t)
	bus := newBus(t)
	s := New("app", Options{Metrics: rec})
	if err := s.Add(components.Metadata{Name: "pubsub"}, bus); err != nil {
		t.Fatal(err)
	}
	a, ch := newBulkApp(t, func(string, int) string { return "SUCCESS" })
	// The in-memory broker hands out one event at a time: two batches.
	subscribe(t, s, ch, bulkSub(t, "bulk", &Bulk{MaxMessages: 10, MaxAwait: 20 * time.Millisecond}))
	_, err := s.BulkPublish(context.Background(), BulkRequest{Pubsub: "pubsub", Topic: "bulk", Entries: []BulkEntry{
		{EntryID: "1", Event: []byte("a"), ContentType: "text/plain"}, {EntryID: "2", Event: []byte("b"), ContentType: "text/plain"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a.wait(t, func() bool { return a.final["a"] == "SUCCESS" && a.final["b"] == "SUCCESS" })
	want := []string{
		`dapr_component_pubsub_egress_bulk_count{app_id="app",component="pubsub",namespace="default",success="true",topic="bulk"} 1`,
		`dapr_component_pubsub_egress_bulk_latencies_count{app_id="app",component="pubsub",namespace="default",success="true",topic="bulk"} 1`,
		`dapr_component_pubsub_ingress_bulk_count{app_id="app",component="pubsub",namespace="default",process_status="",topic="bulk"} 2`,
		`dapr_component_pubsub_ingress_bulk_event_count{app_id="app",component="pubsub",namespace="default",process_status="success",topic="bulk"} 2`,
		`dapr_component_pubsub_ingress_bulk_latencies_count{app_id="app",component="pubsub",namespace="default",process_status="",topic="bulk"} 2`,
	}
	waitScrape(t, reg, want)
}
