package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/blocks/invoke"
)

func TestInvokePassesRequestAndResponseThrough(t *testing.T) {
	env := newEnv(t, Config{})
	const (
		traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		tracestate  = "congo=t61rcWkgMzE"
	)
	tests := []struct {
		name    string
		verb    string
		header  bool // the dapr-app-id header form instead of /v1.0/invoke
		unclean bool // doubled slashes before the method, a trailing one after it
		// basicAuth names the target as Basic auth user dapr-app-id.
		basicAuth bool
		body      string
		status    int
	}{
		{name: "GET by path", verb: http.MethodGet, status: http.StatusOK},
		{name: "POST by path", verb: http.MethodPost, body: `{"item":"book"}`, status: http.StatusCreated},
		{name: "PUT by path", verb: http.MethodPut, body: "plain text", status: http.StatusConflict},
		{name: "DELETE by path", verb: http.MethodDelete, status: http.StatusNotFound},
		{name: "GET by header", verb: http.MethodGet, header: true, status: http.StatusOK},
		{name: "GET by unclean path", verb: http.MethodGet, unclean: true, status: http.StatusOK},
		{name: "POST by basic auth", verb: http.MethodPost, basicAuth: true, body: "b", status: http.StatusOK},
		{name: "POST by header", verb: http.MethodPost, header: true, body: `{"item":"pen"}`, status: http.StatusAccepted},
		{name: "PUT by header", verb: http.MethodPut, header: true, body: "x", status: http.StatusInternalServerError},
		{name: "DELETE by header", verb: http.MethodDelete, header: true, status: http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{
				"X-Custom":           {"a", "b"},
				"Traceparent":        {traceparent},
				"Tracestate":         {tracestate},
				"Dapr-Caller-App-Id": {"someone-else"},
			}
			h.Set("X-Reply-Status", strconv.Itoa(tc.status))
			url := env.url + "/v1.0/invoke/orders/method/orders/42?q=1&name=a%20b"
			if tc.unclean {
				url = env.url + "/v1.0//invoke/orders/method//orders/42/?q=1&name=a%20b"
			}
			if tc.basicAuth {
				url = env.url + "/orders/42?q=1&name=a%20b"
				h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("dapr-app-id:orders")))
			}
			if tc.header {
				url = env.url + "/orders/42?q=1&name=a%20b"
				h.Set("dapr-app-id", "orders")
			}
			resp, body := do(t, tc.verb, url, tc.body, h)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("X-App"); got != "orders" {
				t.Errorf("app response header X-App = %q, want orders", got)
			}
			if tc.status == http.StatusNoContent {
				return // no body to inspect
			}
			var seen appSeen
			if err := json.Unmarshal(body, &seen); err != nil {
				t.Fatalf("app answer %q: %v", body, err)
			}
			want := appSeen{Method: tc.verb, Path: "/orders/42", Query: "q=1&name=a%20b", Body: tc.body}
			if tc.unclean {
				want.Path = "/orders/42/"
			}
			if diff := cmp.Diff(want, seen, cmpIgnoreHeader); diff != "" {
				t.Errorf("request as the app saw it (-want +got):\n%s", diff)
			}
			for k, v := range map[string][]string{
				"X-Custom":           {"a", "b"},
				"Traceparent":        {traceparent},
				"Tracestate":         {tracestate},
				"Dapr-Caller-App-Id": {"frontend"},
				"Dapr-Callee-App-Id": {"orders"},
				"Dapr-App-Id":        nil,
			} {
				if diff := cmp.Diff(v, seen.Header[k]); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

// TestInvokeByPathKeepsMethod checks that /v1.0/invoke/{app}/method/...
// hands the app the method as it was sent (routes with a trailing slash
// exist, and a redirect to add one would leave the sidecar), with only dot
// segments resolved, and that the app's root is reached, not redirected.
func TestInvokeByPathKeepsMethod(t *testing.T) {
	env := newEnv(t, Config{})
	tests := []struct {
		name, path string
		want       string // the path the app sees
	}{
		{name: "trailing slash", path: "/v1.0/invoke/orders/method/api/orders/", want: "/api/orders/"},
		{name: "doubled slash", path: "/v1.0/invoke/orders/method/a//b", want: "/a//b"},
		{name: "app root", path: "/v1.0/invoke/orders/method/", want: "/"},
		{name: "app root with query", path: "/v1.0/invoke/orders/method/?x=1", want: "/"},
		{name: "method starting with a slash", path: "/v1.0/invoke/orders/method//x", want: "/x"},
		{name: "doubled slashes in the prefix", path: "//v1.0//invoke//orders/method/x/", want: "/x/"},
		{name: "method named method", path: "/v1.0/invoke/orders/method/method/", want: "/method/"},
		{name: "escaped space", path: "/v1.0/invoke/orders/method/a%20b/", want: "/a b/"},
		{name: "dot segments", path: "/v1.0/invoke/orders/method/a/./b/../c/", want: "/a/c/"},
		{name: "dot dot above the root", path: "/v1.0/invoke/orders/method/../../v1.0/x", want: "/v1.0/x"},
		{name: "dot dot at the end", path: "/v1.0/invoke/orders/method/a/b/..", want: "/a/"},
		{name: "dots in names", path: "/v1.0/invoke/orders/method/a.json/..b", want: "/a.json/..b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, env.url+tc.path, "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (Location %q), want 200; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			var seen appSeen
			if err := json.Unmarshal(body, &seen); err != nil {
				t.Fatalf("app answer %q: %v", body, err)
			}
			if seen.Path != tc.want {
				t.Errorf("app saw path %q, want %q", seen.Path, tc.want)
			}
		})
	}
}

var cmpIgnoreHeader = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Header" }, cmp.Ignore())

// prng is a deterministic endless byte source, so a large body never has
// to sit in memory.
type prng struct{ r *rand.ChaCha8 }

func (p prng) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestInvokeStreamsLargeBodiesIntact(t *testing.T) {
	env := newEnv(t, Config{})
	const size = 8 << 20
	sent := sha256.New()
	src := io.TeeReader(io.LimitReader(prng{rand.NewChaCha8([32]byte{7})}, size), sent)
	// A reader of unknown length makes the client send chunks, so neither
	// side can know the size in advance.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		env.url+"/v1.0/invoke/orders/method/stream", io.NopCloser(src))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	if err != nil {
		t.Fatalf("reading the echoed body: %v", err)
	}
	if n != size {
		t.Errorf("echoed %d bytes, want %d", n, size)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Error("the echoed body differs from the one sent")
	}
}

func TestInvokeErrors(t *testing.T) {
	env := newEnv(t, Config{})
	tests := []struct {
		name       string
		verb, path string
		header     http.Header
		status     int
		code       string
		msgPrefix  string
	}{
		{
			name: "unknown app", verb: http.MethodGet, path: "/v1.0/invoke/nope/method/x",
			status: 500, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed to invoke, id: nope, err: couldn't find service: nope",
		},
		{
			name: "unknown app by header", verb: http.MethodPost, path: "/x", header: http.Header{"Dapr-App-Id": {"nope"}},
			status: 500, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed to invoke, id: nope, err: couldn't find service",
		},
		{
			name: "unreachable replica", verb: http.MethodGet, path: "/v1.0/invoke/down/method/x",
			status: 500, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed to invoke, id: down, err: dial tcp",
		},
		{
			name: "no route", verb: http.MethodGet, path: "/v1.0/nothing/here",
			status: 404, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed getting app id either from the URL path or the header dapr-app-id",
		},
		{
			name: "no method", verb: http.MethodGet, path: "/v1.0/invoke/orders/method",
			status: 404, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed getting app id either from the URL path or the header dapr-app-id",
		},
		{
			name: "no app", verb: http.MethodGet, path: "/v1.0/invoke//method/x",
			status: 404, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed getting app id either from the URL path or the header dapr-app-id",
		},
		{
			name: "known path, other verb", verb: http.MethodPost, path: "/v1.0/healthz",
			status: 404, code: "ERR_DIRECT_INVOKE", msgPrefix: "failed getting app id",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.verb, env.url+tc.path, "", tc.header)
			msg := wantDaprError(t, resp, body, tc.status, tc.code)
			if !strings.HasPrefix(msg, tc.msgPrefix) {
				t.Errorf("message %q, want prefix %q", msg, tc.msgPrefix)
			}
		})
	}
}

func TestInvokeWithoutInvoker(t *testing.T) {
	sc, err := New(Config{AppID: "lonely"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, sc.Handler())
	resp, body := do(t, http.MethodGet, srv+"/v1.0/invoke/orders/method/x", "", nil)
	wantDaprError(t, resp, body, 500, "ERR_DIRECT_INVOKE_NOT_READY")
}

// TestInvokeStreamsResponsesAsTheyCome checks that a response of unknown
// length reaches the caller piece by piece: the app only sends its second
// event after the caller has received the first.
func TestInvokeStreamsResponsesAsTheyCome(t *testing.T) {
	firstSeen := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: 2\n\n")
	}))
	t.Cleanup(app.Close)
	sc, err := New(Config{AppID: "frontend", Logger: slog.New(slog.DiscardHandler),
		Invoker: invoke.New(fixedResolver(app.Listener.Addr().String()), invoke.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	url := httptestServer(t, sc.Handler())

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1.0/invoke/events/method/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || line != "data: 1\n" {
		t.Fatalf("first event %q, %v (the sidecar held the stream back?)", line, err)
	}
	close(firstSeen)
	rest, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "\ndata: 2\n\n" {
		t.Errorf("rest of the stream %q", rest)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
}
