package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTrimPath(t *testing.T) {
	for path, want := range map[string]string{
		"/v1.0/state/orders/order-7":           "/v1.0/state/orders",
		"/v1.0/state/orders":                   "/v1.0/state/orders",
		"/v1.0/state/orders/bulk":              "/v1.0/state/orders",
		"/v1.0-alpha1/state/orders/query":      "/v1.0-alpha1/state/orders",
		"/v1.0/secrets/vault/db-password":      "/v1.0/secrets/vault",
		"/v1.0/secrets/vault/bulk":             "/v1.0/secrets/vault",
		"/v1.0/actors/Cart/cart-12/method/add": "/v1.0/actors/Cart/{id}/method",
		"/v1.0/actors/Cart/cart-12":            "/v1.0/actors/Cart/{id}",
		"/v1.0/actors/Cart":                    "/v1.0/actors/Cart",
		"/v1.0/invoke/orders/method/items/7":   "/v1.0/invoke/orders/method/items/7",
		"/v1.0/metadata":                       "/v1.0/metadata",
		"/v1.0/healthz":                        "/v1.0/healthz",
		"/":                                    "/",
		"":                                     "",
	} {
		if got := trimPath(path); got != want {
			t.Errorf("trimPath(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name               string
		opts               HTTPOptions
		method, path, want string
	}{
		{name: "default cardinality off", method: "GET", path: "/v1.0/state/s/k",
			want: `{app_id="orders",method="GET",path="",status="200"}`},
		{name: "increased cardinality", opts: HTTPOptions{IncreasedCardinality: true}, method: "GET", path: "/v1.0/state/s/k",
			want: `{app_id="orders",method="GET",path="/v1.0/state/s",status="200"}`},
		{name: "verbs excluded", opts: HTTPOptions{IncreasedCardinality: true, ExcludeVerbs: true}, method: "POST", path: "/v1.0/metadata",
			want: `{app_id="orders",method="",path="/v1.0/metadata",status="200"}`},
		{name: "unknown verb", method: "BREW", path: "/v1.0/metadata",
			want: `{app_id="orders",method="UNKNOWN",path="",status="200"}`},
		{name: "pattern", opts: HTTPOptions{PathMatching: []string{"/v1.0/state/{store}/{key}"}}, method: "GET", path: "/v1.0/state/s/k",
			want: `{app_id="orders",method="GET",path="/v1.0/state/{store}/{key}",status="200"}`},
		{name: "pattern as an invoked method", opts: HTTPOptions{PathMatching: []string{"/items/{id}"}}, method: "GET",
			path: "/v1.0/invoke/orders/method/items/7",
			want: `{app_id="orders",method="GET",path="/v1.0/invoke/{app_id}/method/items/{id}",status="200"}`},
		{name: "no pattern matches", opts: HTTPOptions{PathMatching: []string{"/items/{id}"}}, method: "GET", path: "/v1.0/metadata",
			want: `{app_id="orders",method="GET",path="",status="200"}`},
		{name: "no pattern matches, increased cardinality", opts: HTTPOptions{IncreasedCardinality: true, PathMatching: []string{"/items/{id}"}},
			method: "GET", path: "/v1.0/state/s/k",
			want: `{app_id="orders",method="GET",path="/v1.0/state/s",status="200"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry()
			d, err := NewDapr(reg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := d.Sidecar("orders", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			s.HTTPServed(tt.method, tt.path, -1, http.StatusOK, 10, 3*time.Millisecond)
			text := scrape(t, Handler(reg))
			if want := "dapr_http_server_request_count" + tt.want + " 1\n"; !strings.Contains(text, want) {
				t.Errorf("want %q in the scrape; got\n%s", want, grep(text, "dapr_http_server_request_count"))
			}
			// 3 ms falls in the bucket of 3 and above, not below.
			for _, want := range []string{
				"dapr_http_server_latency_bucket" + strings.TrimSuffix(tt.want, "}") + `,le="2"} 0` + "\n",
				"dapr_http_server_latency_bucket" + strings.TrimSuffix(tt.want, "}") + `,le="3"} 1` + "\n",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("want %q in the scrape; got\n%s", want, grep(text, "dapr_http_server_latency_bucket"))
				}
			}
		})
	}
}

// Many sidecars of one process share the families, each under its app_id;
// sizes and gRPC calls are recorded too.
func TestSidecarsShareFamilies(t *testing.T) {
	reg := NewRegistry()
	d, err := NewDapr(reg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Sidecar("a", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Sidecar("b", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.HTTPServed(http.MethodPost, "/v1.0/state/s", 1500, http.StatusNoContent, 0, time.Millisecond)
	a.HTTPServed(http.MethodPost, "/v1.0/state/s", 1500, http.StatusNoContent, 0, time.Millisecond)
	b.HTTPServed(http.MethodGet, "/v1.0/state/s/k", -1, http.StatusNotFound, 0, time.Millisecond)
	b.GRPCServed("/dapr.proto.runtime.v1.Dapr/GetState", "NotFound", 2*time.Millisecond, 30, 0)
	b.GRPCServed("/dapr.proto.runtime.v1.Dapr/SubscribeConfiguration", "OK", time.Second, -1, -1)
	text := scrape(t, Handler(reg))
	for _, want := range []string{
		`dapr_http_server_request_count{app_id="a",method="POST",path="",status="204"} 2`,
		`dapr_http_server_request_count{app_id="b",method="GET",path="",status="404"} 1`,
		`dapr_http_server_request_bytes_bucket{app_id="a",le="1024"} 0`,
		`dapr_http_server_request_bytes_bucket{app_id="a",le="2048"} 2`,
		`dapr_http_server_request_bytes_sum{app_id="a"} 3000`,
		`dapr_grpc_io_server_completed_rpcs{app_id="b",grpc_server_method="/dapr.proto.runtime.v1.Dapr/GetState",grpc_server_status="NotFound"} 1`,
		`dapr_grpc_io_server_received_bytes_per_rpc_sum{app_id="b",grpc_server_method="/dapr.proto.runtime.v1.Dapr/GetState"} 30`,
		`dapr_grpc_io_server_server_latency_count{app_id="b",grpc_server_method="/dapr.proto.runtime.v1.Dapr/SubscribeConfiguration",grpc_server_status="OK"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in the scrape", want)
		}
	}
	// A stream has no message sizes.
	if strings.Contains(text, `received_bytes_per_rpc_count{app_id="b",grpc_server_method="/dapr.proto.runtime.v1.Dapr/SubscribeConfiguration"}`) {
		t.Error("a stream's message sizes were recorded")
	}
}

func TestBadPattern(t *testing.T) {
	d, err := NewDapr(NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, patterns := range [][]string{{"/items/{id"}, {"/items/{id}", "/items/{key}"}} {
		if _, err := d.Sidecar("a", HTTPOptions{PathMatching: patterns}); err == nil || !strings.Contains(err.Error(), "metric path pattern") {
			t.Errorf("%q: want an error naming the pattern, got %v", patterns, err)
		}
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return string(body)
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
