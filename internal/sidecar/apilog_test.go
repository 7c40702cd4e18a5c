package sidecar

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/testlog"
)

// logSink collects a logger's JSON lines.
type logSink struct{ testlog.Buffer }

// apiCalls returns the API log lines with this message, as their fields.
func (s *logSink) apiCalls(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// closed closes the sidecar, which waits for the calls in flight: a call
// is logged once it is answered, so its line may come just after the
// caller has the answer.
func closed(t *testing.T, env *testEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := env.sc.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// methods returns each line's method and code, the fields a user reads.
func methods(lines []map[string]any) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l["method"].(string)+" -> "+jsonNumber(l["code"]))
	}
	return out
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAPILoggingHTTP(t *testing.T) {
	calls := func(t *testing.T, env *testEnv) {
		t.Helper()
		do(t, http.MethodPost, env.stateURL(""), `[{"key":"k1","value":"v"}]`, http.Header{"Content-Type": {"application/json"}})
		do(t, http.MethodGet, env.stateURL("k1"), "", nil)
		do(t, http.MethodGet, env.url+"/v1.0/state/nostore/k1", "", nil)
		do(t, http.MethodGet, env.url+"/v1.0/healthz", "", nil)
		do(t, http.MethodPost, env.url+"/v1.0/invoke/orders/method/users/123", "x", nil)
		do(t, http.MethodPost, env.url+"/users/456", "x", http.Header{"Dapr-App-Id": {"orders"}})
	}
	tests := []struct {
		name string
		cfg  APILogging
		want []string
	}{
		{"off", APILogging{}, nil},
		{"paths", APILogging{Enabled: true}, []string{
			"POST /v1.0/state/statestore -> 204",
			"GET /v1.0/state/statestore/k1 -> 200",
			"GET /v1.0/state/nostore/k1 -> 400",
			"GET /v1.0/healthz -> 204",
			"POST /v1.0/invoke/orders/method/users/123 -> 200",
			"POST /users/456 -> 200",
		}},
		{"routes without health checks", APILogging{Enabled: true, ObfuscateURLs: true, OmitHealthChecks: true}, []string{
			"POST /v1.0/state/{store} -> 204",
			"GET /v1.0/state/{store}/{key} -> 200",
			"GET /v1.0/state/{store}/{key} -> 400",
			"POST /v1.0/invoke/{app}/method/{method...} -> 200",
			"POST /v1.0/invoke/{app}/method/{method...} -> 200",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink logSink
			env := newEnv(t, Config{State: newStateAPI(t), APILogging: tt.cfg,
				Logger: slog.New(slog.NewJSONHandler(&sink, nil))})
			calls(t, env)
			closed(t, env)
			got := sink.apiCalls(t, "HTTP API Called")
			if diff := cmp.Diff(tt.want, methods(got)); diff != "" {
				t.Errorf("logged calls (-want +got):\n%s", diff)
			}
			for _, l := range got {
				if l["level"] != "INFO" || !strings.HasPrefix(l["useragent"].(string), "Go-http-client/") {
					t.Errorf("line %v: want level INFO and the client's user agent", l)
				}
				if _, ok := l["duration"].(float64); !ok {
					t.Errorf("line %v has no duration", l)
				}
			}
			if len(got) > 1 {
				// The value read back is "v": 3 bytes of JSON.
				if size := got[1]["size"]; size != float64(3) {
					t.Errorf("GET size = %v, want 3", size)
				}
			}
		})
	}
}

func TestAPILoggingGRPC(t *testing.T) {
	for _, on := range []bool{false, true} {
		var sink logSink
		gl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		env := newEnv(t, Config{State: newStateAPI(t), GRPCListener: gl, APILogging: APILogging{Enabled: on},
			Logger: slog.New(slog.NewJSONHandler(&sink, nil))})
		c, err := dapr.NewClientWithAddressContext(t.Context(), gl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SaveState(t.Context(), storeName, "k", []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetState(t.Context(), "nostore", "k", nil); err == nil {
			t.Fatal("GetState of an unknown store succeeded")
		}
		c.Close()
		closed(t, env)
		var want []string
		if on {
			want = []string{
				"/dapr.proto.runtime.v1.Dapr/SaveState -> 0",
				"/dapr.proto.runtime.v1.Dapr/GetState -> 3", // InvalidArgument
			}
		}
		got := sink.apiCalls(t, "gRPC API Called")
		var calls []map[string]any
		for _, l := range got { // the SDK may ask for the metadata as it connects
			if !strings.HasSuffix(l["method"].(string), "/GetMetadata") {
				calls = append(calls, l)
			}
		}
		if diff := cmp.Diff(want, methods(calls)); diff != "" {
			t.Errorf("logging %v: logged calls (-want +got):\n%s", on, diff)
		}
		for _, l := range calls {
			if ua, _ := l["useragent"].(string); !strings.Contains(ua, "grpc-go") {
				t.Errorf("line %v: want the SDK's user agent", l)
			}
		}
	}
}
