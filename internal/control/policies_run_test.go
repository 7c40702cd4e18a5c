package control

import (
	"fmt"
	"net/http"
	"os"
	"testing"
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
