package control

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// envAt is the environment of the replica that answers host through the
// public edge.
func envAt(t *testing.T, edge, host string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+edge+"/env", nil)
	req.Host = host
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var env map[string]string
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &env) != nil {
		t.Fatalf("GET %s/env: %s %s", host, res.Status, b)
	}
	return env
}

// TestReloadAddsReplacesAndRemovesApps changes which apps run and what a
// running app cannot take in place, each by a reload: an app the file adds
// starts, one that turns Dapr on is built anew with its sidecar, and one
// the file drops stops.
func TestReloadAddsReplacesAndRemovesApps(t *testing.T) {
	dir := t.TempDir()
	two := runTwoApps(t, dir, time.Minute)
	exe, st, client := two.exe, two.st, two.client
	shopPIDs := func() []int {
		var out []int
		for _, r := range appStatus(t, client, "shop").Replicas {
			out = append(out, r.PID)
		}
		return out
	}()

	write(t, dir, "web.yaml", namedApp("web", twoAppsIngress, "1"))
	write(t, dir, "api.yaml", namedApp("api", twoAppsIngress+"    dapr: {enabled: true, appId: api, appPort: 8000}\n", "1"))
	write(t, dir, "cove.yaml", "apps:\n"+coveEntry("api", exe, "")+coveEntry("web", exe, ""))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || len(res.NeedsRestart) > 0 {
		t.Fatalf("reload: %+v", res)
	}
	web := appStatus(t, client, "web")
	api := appStatus(t, client, "api")
	want := []string{
		fmt.Sprintf("api: %s → %s (its Dapr settings changed)", two.before["api"], api.Revision),
		"shop: " + two.before["shop"] + " stopped (app removed)",
		fmt.Sprintf("web: (none) → %s (added)", web.Revision),
	}
	slices.Sort(res.Revisions)
	if strings.Join(res.Revisions, "\n") != strings.Join(want, "\n") {
		t.Errorf("revisions:\n%s\nwant:\n%s", strings.Join(res.Revisions, "\n"), strings.Join(want, "\n"))
	}
	if env := envAt(t, st.Edge.HTTP, "web.localhost"); env["CONTAINER_APP_NAME"] != "web" {
		t.Errorf("web.localhost answered as %q", env["CONTAINER_APP_NAME"])
	}
	env := envAt(t, st.Edge.HTTP, "api.localhost")
	if env["DAPR_HTTP_PORT"] == "" || env["APP_ID"] != "api" || env["CONTAINER_APP_REVISION"] == two.before["api"] {
		t.Errorf("api after Dapr was enabled: revision %s, APP_ID %q, DAPR_HTTP_PORT %q", env["CONTAINER_APP_REVISION"], env["APP_ID"], env["DAPR_HTTP_PORT"])
	}
	// The sidecar answers, as the app's own.
	resp, err := http.Get("http://127.0.0.1:" + env["DAPR_HTTP_PORT"] + "/v1.0/metadata")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"api"`) {
		t.Errorf("the new sidecar's metadata: %s", b)
	}
	waitGone(t, shopPIDs)
	status, err := client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(status.Apps, func(a AppStatus) bool { return a.Name == "shop" }) {
		t.Error("shop still listed after it was removed")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+st.Edge.HTTP+"/", nil)
	req.Host = "shop.localhost"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("shop.localhost after removal: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Dapr off again: the app is built anew, without a sidecar.
	write(t, dir, "api.yaml", namedApp("api", twoAppsIngress, "1"))
	if res, err := client.Reload(t.Context()); err != nil || len(res.Errors) > 0 {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	if env := envAt(t, st.Edge.HTTP, "api.localhost"); env["DAPR_HTTP_PORT"] != "" {
		t.Errorf("api still has DAPR_HTTP_PORT %s after Dapr was disabled", env["DAPR_HTTP_PORT"])
	}
}

// TestReloadChangesComponents adds a component, changes it and removes it
// by reloads: each time the Dapr app in its scope is built anew over the
// components, and its sidecar serves what the file says.
func TestReloadChangesComponents(t *testing.T) {
	dir := t.TempDir()
	st, client := runWebAndFront(t, dir)
	env := func() map[string]string { return envAt(t, st.Edge.HTTP, "web.localhost") }
	state := func(method, body string) (int, string) {
		t.Helper()
		url := "http://127.0.0.1:" + env()["DAPR_HTTP_PORT"] + "/v1.0/state/store"
		if method == http.MethodGet {
			url += "/k"
		}
		return httpCall(t, method, url, body, nil)
	}
	if code, body := state(http.MethodGet, ""); !strings.Contains(body, "ERR_STATE_STORE_NOT_CONFIGURED") {
		t.Fatalf("before the component: %d %s", code, body)
	}
	data, err := os.ReadFile(filepath.Join(dir, "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cove := string(data)
	before := env()["CONTAINER_APP_REVISION"]
	front := envAt(t, st.Edge.HTTP, "front.localhost")["CONTAINER_APP_REVISION"]
	write(t, dir, "store.yaml", "componentType: state.in-memory\nversion: v1\nmetadata: []\nscopes: [web]\n")
	write(t, dir, "cove.yaml", cove+"components:\n  - {name: store, file: store.yaml}\n")
	res, err := client.Reload(t.Context())
	if err != nil || len(res.Errors) > 0 || len(res.NeedsRestart) > 0 {
		t.Fatalf("reload adding a component: %+v, %v", res, err)
	}
	after := env()["CONTAINER_APP_REVISION"]
	if want := fmt.Sprintf("web: %s → %s (component store changed)", before, after); strings.Join(res.Revisions, "\n") != want {
		t.Errorf("revisions: %q, want %q", res.Revisions, want)
	}
	if got := envAt(t, st.Edge.HTTP, "front.localhost")["CONTAINER_APP_REVISION"]; got != front {
		t.Errorf("front, out of the component's scope, went from %s to %s", front, got)
	}
	if code, body := state(http.MethodPost, `[{"key": "k", "value": "v1"}]`); code != http.StatusNoContent {
		t.Fatalf("save: %d %s", code, body)
	}
	if code, body := state(http.MethodGet, ""); code != http.StatusOK || body != `"v1"` {
		t.Errorf("get: %d %s", code, body)
	}
	// A component that does not load changes nothing.
	write(t, dir, "store.yaml", "componentType: state.redis\nversion: v1\nmetadata: [{name: redisHost, value: \"127.0.0.1:1\"}]\nscopes: [web]\n")
	res, err = client.Reload(t.Context())
	if err != nil || len(res.Errors) == 0 || !strings.Contains(res.Errors[0], "the components were not changed: component store (state.redis)") {
		t.Errorf("reload with a component that does not load: %+v, %v", res, err)
	}
	if code, body := state(http.MethodGet, ""); code != http.StatusOK || body != `"v1"` || env()["CONTAINER_APP_REVISION"] != after {
		t.Errorf("after the failed change: %d %s, revision %s", code, body, env()["CONTAINER_APP_REVISION"])
	}
	write(t, dir, "cove.yaml", cove)
	if res, err := client.Reload(t.Context()); err != nil || len(res.Errors) > 0 {
		t.Fatalf("reload removing the component: %+v, %v", res, err)
	}
	if code, body := state(http.MethodGet, ""); !strings.Contains(body, "ERR_STATE_STORE_NOT_CONFIGURED") {
		t.Errorf("after the component was removed: %d %s", code, body)
	}
}

// httpCall sends a request with body and header and returns the answer's
// status and body.
func httpCall(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadKeepsOutTheAppsNotNamed runs one app of two, as `cove up api`
// does: a reload leaves the other out still, and runs an app added since.
func TestReloadKeepsOutTheAppsNotNamed(t *testing.T) {
	dir := t.TempDir()
	exe := fmt.Sprintf("[%q]", testExe(t))
	runEnvWith(t, dir, map[string]string{
		"api.yaml":  namedApp("api", twoAppsIngress, "1"),
		"shop.yaml": namedApp("shop", twoAppsIngress, "1"),
		"cove.yaml": "apps:\n" + coveEntry("api", exe, "") + coveEntry("shop", exe, ""),
	}, Options{Apps: []string{"api"}})
	client := NewClient(filepath.Join(dir, "cove.yaml"))
	write(t, dir, "web.yaml", namedApp("web", twoAppsIngress, "1"))
	write(t, dir, "cove.yaml", "apps:\n"+coveEntry("api", exe, "")+coveEntry("shop", exe, "")+coveEntry("web", exe, ""))
	if res, err := client.Reload(t.Context()); err != nil || len(res.Errors) > 0 {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	st, err := client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range st.Apps {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "api,web" {
		t.Errorf("apps after the reload: %v, want api and web", names)
	}
}
