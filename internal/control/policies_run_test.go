package control

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunAppliesDaprResources runs two Dapr apps whose env and Dapr
// Configuration set an API token and access control, and checks their
// sidecars enforce them.
func TestRunAppliesDaprResources(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	app := func(name string, env string) string {
		return fmt.Sprintf(`
name: %[1]s
properties:
  configuration:
    ingress: {targetPort: 8000}
    dapr: {enabled: true, appId: %[1]s, appPort: 8000}
  template:
    containers:
      - name: main
        image: x
        env: [%[2]s]
`, name, env)
	}
	write(t, dir, "front.yaml", app("front", "{name: DAPR_API_TOKEN, value: front-token}"))
	write(t, dir, "back.yaml", app("back", "{name: APP_API_TOKEN, value: back-app-token}"))
	write(t, dir, "back-config.yaml", `
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: back}
spec:
  accessControl:
    defaultAction: deny
    policies:
      - appId: front
        defaultAction: deny
        trustDomain: public
        namespace: default
        operations:
          - {name: /env, httpVerb: [GET], action: allow}
`)
	write(t, dir, "res.yaml", `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    timeouts: {short: 5s}
  targets:
    apps:
      back: {timeout: short}
`)
	write(t, dir, "cove.yaml", fmt.Sprintf(`
resiliency:
  - file: res.yaml
apps:
  - file: front.yaml
    command: [%[1]q]
    env: {COVE_TEST_APP: "1"}
  - file: back.yaml
    command: [%[1]q]
    env: {COVE_TEST_APP: "1"}
    configuration: {file: back-config.yaml}
`, exe))
	st := runEnv(t, dir, nil)
	var front string
	for _, a := range st.Apps {
		if a.Name == "front" {
			front = fmt.Sprintf("http://127.0.0.1:%d", a.Replicas[0].DaprHTTPPort)
		}
	}
	call := func(method, path, token string) int {
		req, _ := http.NewRequestWithContext(t.Context(), method, front+path, nil)
		if token != "" {
			req.Header.Set("dapr-api-token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{name: "no token", method: http.MethodGet, path: "/v1.0/invoke/back/method/env", want: http.StatusUnauthorized},
		{name: "health without token", method: http.MethodGet, path: "/v1.0/healthz/outbound", want: http.StatusNoContent},
		{name: "allowed", method: http.MethodGet, path: "/v1.0/invoke/back/method/env", token: "front-token", want: http.StatusOK},
		{name: "denied verb", method: http.MethodPost, path: "/v1.0/invoke/back/method/env", token: "front-token", want: http.StatusForbidden},
		{name: "denied path", method: http.MethodGet, path: "/v1.0/invoke/back/method/other", token: "front-token", want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(tt.method, tt.path, tt.token); got != tt.want {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

// TestRunLogsDaprAPICalls sets ACA's dapr.enableApiLogging on one app:
// its sidecar logs each call to the Dapr API into the replica's log, as
// `cove up` prints it and `cove logs` returns it; the other app's does not.
// The apps' dapr.logLevel decides what else their sidecars log there.
func TestRunLogsDaprAPICalls(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	app := func(name string, logging bool, level string) string {
		return fmt.Sprintf(`
name: %[1]s
properties:
  configuration:
    ingress: {targetPort: 8000}
    dapr: {enabled: true, appId: %[1]s, appPort: 8000, enableApiLogging: %[2]v%[3]s}
  template:
    containers: [{name: main, image: x}]
`, name, logging, level)
	}
	write(t, dir, "logged.yaml", app("logged", true, ", logLevel: warn"))
	write(t, dir, "plain.yaml", app("plain", false, ""))
	write(t, dir, "chatty.yaml", app("chatty", false, ", logLevel: debug"))
	write(t, dir, "cove.yaml", fmt.Sprintf(`
apps:
  - file: logged.yaml
    command: [%[1]q]
    env: {COVE_TEST_APP: "1"}
  - file: plain.yaml
    command: [%[1]q]
    env: {COVE_TEST_APP: "1"}
  - file: chatty.yaml
    command: [%[1]q]
    env: {COVE_TEST_APP: "1"}
`, exe))
	var mu sync.Mutex
	printed := map[string][]string{}
	output := func(app, _, stream string, line []byte) {
		if stream == "dapr" {
			mu.Lock()
			printed[app] = append(printed[app], string(line))
			mu.Unlock()
		}
	}
	st := runEnvWith(t, dir, nil, Options{Output: output})
	for _, a := range st.Apps {
		// The health check makes the sidecar dial its app, which it
		// logs at debug.
		url := fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", a.Replicas[0].DaprHTTPPort)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", "cove-test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// A call is logged once answered: its line may trail the answer.
	lines := func(app string) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(printed[app])
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(lines("logged")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// logLevel warn: nothing but the API call, which is logged at info.
	if got := lines("logged"); len(got) != 1 ||
		!strings.HasPrefix(got[0], `level=INFO msg="HTTP API Called" method="GET /v1.0/healthz"`) ||
		!strings.Contains(got[0], "code=204") {
		t.Errorf("app logged: want only the API log line of GET /v1.0/healthz; got %q", got)
	}
	has := func(lines []string, prefix string) bool {
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
	}
	// logLevel unset is info: the sidecar's start, no debug, no API calls.
	plain := lines("plain")
	if !has(plain, `level=INFO msg="dapr APIs listening" http=`) || has(plain, "level=DEBUG") || has(plain, `level=INFO msg="HTTP API Called"`) {
		t.Errorf("app plain (logLevel unset): want info lines and no debug or API lines; got %q", plain)
	}
	if chatty := lines("chatty"); !has(chatty, `level=DEBUG msg="app port is accepting connections"`) {
		t.Errorf("app chatty (logLevel debug): want the sidecar's debug lines; got %q", chatty)
	}

	// The management socket serves every sidecar's metrics, by app id.
	resp, err := NewClient(filepath.Join(dir, "cove.yaml")).hc.Get("http://cove/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, app := range []string{"logged", "plain", "chatty"} {
		want := `dapr_http_server_request_count{app_id="` + app + `",method="GET",path="/v1.0/healthz",status="204"} `
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics on the management socket: want %q; got %d:\n%s", want, resp.StatusCode, body)
		}
	}
}
