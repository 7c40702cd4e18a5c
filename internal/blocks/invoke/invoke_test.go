package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/testaddr"
)

// seen is what the test app reports about a request it received.
type seen struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
}

func echoApp(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not leak")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header, string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// addrs resolves every app to the next address of its list, in turn.
type addrs struct {
	mu   sync.Mutex
	apps map[string][]string
	n    int
}

func (a *addrs) Resolve(_ context.Context, appID string) (Target, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	list, ok := a.apps[appID]
	if !ok {
		return Target{}, errors.New("couldn't find service: " + appID)
	}
	addr := list[a.n%len(list)]
	a.n++
	return Target{AppID: appID, Addr: addr}, nil
}

func decodeSeen(t *testing.T, resp *Response) seen {
	t.Helper()
	defer resp.Body.Close()
	var s seen
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("decoding the app's answer: %v", err)
	}
	return s
}

func TestInvokeForwards(t *testing.T) {
	app := echoApp(t)
	inv := New(&addrs{apps: map[string][]string{"orders": {app.Listener.Addr().String()}}}, Options{})

	tests := []struct {
		name    string
		appID   string
		verb    string
		path    string
		body    string
		wantKey string
	}{
		{name: "get with bare id", appID: "orders", verb: http.MethodGet, path: "/items/1"},
		{name: "post with namespace", appID: "orders.default", verb: http.MethodPost, path: "items", body: `{"n":1}`},
		{name: "delete", appID: "orders", verb: http.MethodDelete, path: "/items/a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{
				"X-Custom":           {"v1", "v2"},
				"Traceparent":        {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
				"Connection":         {"keep-alive, X-Drop"},
				"X-Drop":             {"hop"},
				"Dapr-App-Id":        {"orders"},
				"Dapr-Caller-App-Id": {"spoofed"},
			}
			var body io.ReadCloser
			if tc.body != "" {
				body = io.NopCloser(strings.NewReader(tc.body))
			}
			resp, err := inv.Invoke(t.Context(), &Request{
				AppID: tc.appID, Method: tc.verb, Path: tc.path, Query: "a=1&b=x%20y",
				Header: h, Body: body, ContentLength: int64(len(tc.body)), CallerAppID: "frontend",
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusAccepted {
				t.Errorf("status = %d, want 202", resp.Status)
			}
			if _, ok := resp.Header["X-Hop"]; ok {
				t.Error("a response header nominated by Connection was forwarded")
			}
			got := decodeSeen(t, resp)
			wantPath := "/" + strings.TrimPrefix(tc.path, "/")
			if got.Method != tc.verb || got.Path != wantPath || got.Query != "a=1&b=x%20y" || got.Body != tc.body {
				t.Errorf("app saw %s %s?%s body %q", got.Method, got.Path, got.Query, got.Body)
			}
			wantHeaders := map[string][]string{
				"X-Custom":              {"v1", "v2"},
				"Traceparent":           {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
				"Dapr-Caller-App-Id":    {"frontend"},
				"Dapr-Callee-App-Id":    {"orders"},
				"Dapr-Caller-Namespace": {"default"},
				"X-Drop":                nil,
				"Dapr-App-Id":           nil,
				"Connection":            nil,
				"User-Agent":            nil,
			}
			for k, want := range wantHeaders {
				if diff := cmp.Diff(want, got.Header[k]); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	dead := testaddr.Refused(t)
	inv := New(&addrs{apps: map[string][]string{"down": {dead}}}, Options{Namespace: "prod"})
	tests := []struct {
		name     string
		appID    string
		wantMsg  string
		notFound bool
	}{
		{name: "unknown app", appID: "nope", wantMsg: "failed to invoke, id: nope, err: couldn't find service: nope"},
		{name: "other namespace", appID: "down.staging", wantMsg: "failed to invoke, id: down.staging, err: couldn't find service: down in namespace staging", notFound: true},
		{name: "malformed id", appID: "a.b.c", wantMsg: "failed to invoke, id: a.b.c, err: invalid app id a.b.c"},
		{name: "refused", appID: "down", wantMsg: "failed to invoke, id: down, err: dial tcp " + dead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inv.Invoke(t.Context(), &Request{AppID: tc.appID, Method: "GET", Path: "/"})
			var de *daprerr.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *daprerr.Error", err)
			}
			if de.Kind != daprerr.DirectInvoke || de.Status() != http.StatusInternalServerError {
				t.Errorf("kind %v status %d, want ERR_DIRECT_INVOKE 500", de.Kind.Code, de.Status())
			}
			if !strings.HasPrefix(de.Message, tc.wantMsg) {
				t.Errorf("message %q, want prefix %q", de.Message, tc.wantMsg)
			}
			if tc.notFound && !errors.Is(err, ErrAppNotFound) {
				t.Errorf("errors.Is(%v, ErrAppNotFound) = false", err)
			}
		})
	}
}

// trackingBody records whether it was closed.
type trackingBody struct {
	io.Reader
	closed bool
}

func (b *trackingBody) Close() error { b.closed = true; return nil }

func TestInvokeRetriesRefusedReplicaWithBody(t *testing.T) {
	app := echoApp(t)
	res := &addrs{apps: map[string][]string{"orders": {testaddr.Refused(t), app.Listener.Addr().String()}}}
	inv := New(res, Options{})
	payload := bytes.Repeat([]byte("x"), 100_000)
	body := &trackingBody{Reader: bytes.NewReader(payload)}
	resp, err := inv.Invoke(t.Context(), &Request{
		AppID: "orders", Method: http.MethodPost, Path: "/p",
		Header: http.Header{}, Body: body, ContentLength: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := decodeSeen(t, resp)
	if got.Body != string(payload) {
		t.Errorf("the retried body arrived with %d bytes, want %d", len(got.Body), len(payload))
	}
	if !body.closed {
		t.Error("request body not closed after the call")
	}
	if res.n != 2 {
		t.Errorf("resolved %d times, want 2", res.n)
	}
}

func TestInvokeGivesUpAfterMaxAttempts(t *testing.T) {
	res := &addrs{apps: map[string][]string{"orders": {testaddr.Refused(t)}}}
	inv := New(res, Options{MaxAttempts: 2})
	body := &trackingBody{Reader: strings.NewReader("data")}
	_, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodPost, Path: "/", Body: body, ContentLength: 4})
	if err == nil {
		t.Fatal("invoking a dead replica succeeded")
	}
	if res.n != 2 {
		t.Errorf("resolved %d times, want 2", res.n)
	}
	if !body.closed {
		t.Error("request body not closed after the failure")
	}
}

// resetting is an address whose every connection is accepted and reset
// before an answer, as a replica's port behaves while its process dies.
func resetting(t *testing.T) string {
	t.Helper()
	return testaddr.Serve(t, func(c net.Conn) {
		_, _ = c.Read(make([]byte, 1)) // the request has started
		_ = c.(*net.TCPConn).SetLinger(0)
	})
}

func TestInvokeRetriesResetReplicaForRepeatableRequests(t *testing.T) {
	app := echoApp(t)
	res := &addrs{apps: map[string][]string{"orders": {resetting(t), app.Listener.Addr().String()}}}
	inv := New(res, Options{})
	resp, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodGet, Path: "/p", Header: http.Header{}})
	if err != nil {
		t.Fatalf("GET after a reset: %v, want the answer of the other replica", err)
	}
	if got := decodeSeen(t, resp); got.Path != "/p" {
		t.Errorf("the other replica saw %q", got.Path)
	}

	// A POST may have been acted on: its reset is the caller's to see.
	res.n = 0
	_, err = inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodPost, Path: "/p",
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("x")), ContentLength: 1})
	if err == nil {
		t.Fatal("a POST whose connection was reset was retried and succeeded")
	}
	if res.n != 1 {
		t.Errorf("resolved %d times for the POST, want 1", res.n)
	}
}
