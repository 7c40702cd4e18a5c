package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/testaddr"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no app id", cfg: Config{}},
		{name: "unknown app protocol", cfg: Config{AppID: "a", AppProtocol: "thrift"}},
		{name: "bad app address", cfg: Config{AppID: "a", AppAddr: "localhost"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestHealthzWaitsForTheAppPort(t *testing.T) {
	appAddr := testaddr.Refused(t)
	env := newEnv(t, Config{AppAddr: appAddr})

	resp, body := do(t, http.MethodGet, env.url+"/v1.0/healthz", "", nil)
	wantDaprError(t, resp, body, http.StatusInternalServerError, "ERR_HEALTH_NOT_READY")

	resp, body = do(t, http.MethodGet, env.url+"/v1.0/healthz/outbound", "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	l, err := net.Listen("tcp", appAddr)
	if err != nil {
		t.Skipf("the app port was taken meanwhile: %v", err)
	}
	resp, body = do(t, http.MethodGet, env.url+"/v1.0/healthz", "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	// Once up, the app is not probed again.
	_ = l.Close()
	resp, body = do(t, http.MethodGet, env.url+"/v1.0/healthz", "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestHealthzWithoutAppPort(t *testing.T) {
	env := newEnv(t, Config{})
	resp, body := do(t, http.MethodGet, env.url+"/v1.0/healthz", "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
}

// daprMetadata holds the fields Dapr documents for GET /v1.0/metadata.
type daprMetadata struct {
	ID                   string            `json:"id"`
	RuntimeVersion       string            `json:"runtimeVersion"`
	EnabledFeatures      []string          `json:"enabledFeatures"`
	Extended             map[string]string `json:"extended"`
	RegisteredComponents []struct {
		Name         string   `json:"name"`
		Type         string   `json:"type"`
		Version      string   `json:"version"`
		Capabilities []string `json:"capabilities"`
	} `json:"components"`
	AppConnectionProperties struct {
		Port           int    `json:"port"`
		Protocol       string `json:"protocol"`
		ChannelAddress string `json:"channelAddress"`
	} `json:"appConnectionProperties"`
	ActorRuntime struct {
		RuntimeStatus string `json:"runtimeStatus"`
		HostReady     bool   `json:"hostReady"`
		Placement     string `json:"placement"`
	} `json:"actorRuntime"`
}

func TestMetadata(t *testing.T) {
	env := newEnv(t, Config{AppAddr: "127.0.0.1:3000", State: newStateService(t, "statestore", "cache-notx"), RuntimeVersion: "1.17.0-cove"})

	resp, body := do(t, http.MethodPut, env.url+"/v1.0/metadata/cliPID", "4242", nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	resp, body = do(t, http.MethodGet, env.url+"/v1.0/metadata", "", nil)
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var got daprMetadata
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("metadata %s: %v", body, err)
	}
	var want daprMetadata
	want.ID = "frontend"
	want.RuntimeVersion = "1.17.0-cove"
	want.Extended = map[string]string{"cliPID": "4242", "daprRuntimeVersion": "1.17.0-cove"}
	want.RegisteredComponents = append(want.RegisteredComponents, got.RegisteredComponents...)
	want.AppConnectionProperties.Port = 3000
	want.AppConnectionProperties.Protocol = "http"
	want.AppConnectionProperties.ChannelAddress = "127.0.0.1"
	want.ActorRuntime.RuntimeStatus = "DISABLED"
	want.ActorRuntime.Placement = "placement: disconnected"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	type comp struct{ Name, Type, Version, Caps string }
	var comps []comp
	for _, c := range got.RegisteredComponents {
		comps = append(comps, comp{c.Name, c.Type, c.Version, strings.Join(c.Capabilities, ",")})
	}
	wantComps := []comp{
		{"cache-notx", "state.in-memory", "v1", "ETAG,TTL"},
		{"statestore", "state.in-memory", "v1", "ETAG,TRANSACTIONAL,TTL,ACTOR"},
	}
	if diff := cmp.Diff(wantComps, comps); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}

	// Empty lists are left out, as daprd's encoder does.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"subscriptions", "httpEndpoints", "actors", "enabledFeatures"} {
		if _, ok := raw[k]; ok {
			t.Errorf("empty %q present in %s", k, body)
		}
	}
}

func TestShutdownCallsTheHook(t *testing.T) {
	called := make(chan struct{}, 2)
	env := newEnv(t, Config{OnShutdown: func() { called <- struct{}{} }})
	for range 2 {
		resp, body := do(t, http.MethodPost, env.url+"/v1.0/shutdown", "", nil)
		wantStatus(t, resp, body, http.StatusNoContent)
	}
	select {
	case <-called:
	case <-time.After(5 * time.Second):
		t.Fatal("the shutdown hook was not called")
	}
	if len(called) != 0 {
		t.Error("the shutdown hook ran more than once")
	}
}

func TestHeaderLimitAndBodyLimit(t *testing.T) {
	env := newEnv(t, Config{MaxRequestBodySize: 1 << 10})
	resp, body := do(t, http.MethodGet, env.url+"/v1.0/healthz", "", http.Header{"X-Big": {strings.Repeat("x", 16<<10)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB of headers: status %d, want 431 (%s)", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodPost, env.url+"/v1.0/invoke/orders/method/echo", strings.Repeat("y", 2<<10), nil)
	wantDaprError(t, resp, body, http.StatusRequestEntityTooLarge, "ERR_BODY_TOO_LARGE")
	// Without a Content-Length the limit is found while the body streams.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, env.url+"/v1.0/invoke/orders/method/echo",
		io.MultiReader(strings.NewReader(strings.Repeat("z", 2<<10))))
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	chunked, _ := io.ReadAll(res.Body)
	res.Body.Close()
	wantDaprError(t, res, chunked, http.StatusRequestEntityTooLarge, "ERR_BODY_TOO_LARGE")
	resp, body = do(t, http.MethodPost, env.url+"/v1.0/invoke/orders/method/echo", "small", nil)
	wantStatus(t, resp, body, http.StatusOK)
}

func TestCloseWithoutStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(Config{AppID: "a", HTTPListener: l})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open after Close: %v", err)
	}
	if err := sc.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// TestCurl drives the sidecar with the real curl binary, as users do.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	env := newEnv(t, Config{State: newStateAPI(t)})
	run := func(args ...string) (status int, body string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		args = append([]string{"-sS", "-w", "\n%{http_code}"}, args...)
		out, err := exec.CommandContext(ctx, curl, args...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		s := string(out)
		i := strings.LastIndexByte(s, '\n')
		code, err := strconv.Atoi(s[i+1:])
		if err != nil {
			t.Fatalf("curl output %q", s)
		}
		return code, s[:i]
	}

	code, body := run("-X", "POST", "-H", "Content-Type: application/json", "-d", `{"order":7}`,
		env.url+"/v1.0/invoke/orders/method/neworder?x=1")
	if code != http.StatusOK {
		t.Fatalf("invoke: status %d, body %s", code, body)
	}
	var seen appSeen
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("invoke answer %q: %v", body, err)
	}
	if seen.Method != "POST" || seen.Path != "/neworder" || seen.Query != "x=1" || seen.Body != `{"order":7}` {
		t.Errorf("the app saw %+v", seen)
	}

	key := "curl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	code, body = run("-X", "POST", "-H", "Content-Type: application/json",
		"-d", `[{"key":"`+key+`","value":"Bruce Wayne"}]`, env.stateURL(""))
	if code != http.StatusNoContent {
		t.Fatalf("save: status %d, body %s", code, body)
	}
	code, body = run(env.stateURL(key))
	if code != http.StatusOK || body != `"Bruce Wayne"` {
		t.Errorf("get: status %d, body %s", code, body)
	}
	code, body = run("-X", "DELETE", env.stateURL(key))
	if code != http.StatusNoContent {
		t.Errorf("delete: status %d, body %s", code, body)
	}
}

func TestServesH2C(t *testing.T) {
	env := newEnv(t, Config{})
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	t.Cleanup(client.CloseIdleConnections)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, env.url+"/v1.0/invoke/orders/method/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Errorf("got %s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
}

// The HTTP API reads a request line and headers of up to 8 KiB, as daprd
// does with its default read buffer of 4 KiB (net/http's MaxHeaderBytes,
// which it reads 4 KiB past), and answers 431 to a byte more.
func TestHeaderLimitBoundary(t *testing.T) {
	env := newEnv(t, Config{})
	status := func(size int) int {
		t.Helper()
		start := "GET /v1.0/healthz/outbound HTTP/1.1\r\nHost: x\r\nX-Pad: "
		req := start + strings.Repeat("p", size-len(start)-len("\r\n\r\n")) + "\r\n\r\n"
		c, err := net.Dial("tcp", strings.TrimPrefix(env.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(8 << 10); got == http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8,192 bytes of request line and headers: %d", got)
	}
	if got := status(8<<10 + 1); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8,193 bytes of request line and headers: %d, want 431", got)
	}
}
