package control

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/spec"
)

func TestPatchYAML(t *testing.T) {
	file := `# the API
name: api
properties:
  configuration:
    ingress: # internal only
      external: false
      targetPort: 8000
  template:
    containers:
      - name: api
        image: api:1
    scale:
      minReplicas: 1
`
	patch := `{"properties": {"provisioningState": "Succeeded", "configuration": {"ingress": {"fqdn": "x", "allowInsecure": null, "external": true}},
		"template": {"containers": [{"name": "api", "image": "api:2", "env": [{"name": "N", "value": "1"}]}], "scale": {"maxReplicas": 3}, "revisionSuffix": "v2"}}}`
	got, err := patchYAML([]byte(file), []byte(patch))
	if err != nil {
		t.Fatal(err)
	}
	want := `# the API
name: api
properties:
  configuration:
    ingress: # internal only
      external: true
      targetPort: 8000
  template:
    containers:
      - name: api
        image: api:2
        env:
          - name: N
            value: "1"
    scale:
      minReplicas: 1
      maxReplicas: 3
    revisionSuffix: v2
`
	if string(got) != want {
		t.Errorf("patched file:\n%s\nwant:\n%s", got, want)
	}

	// A file with its template at the top level gets the patch there.
	got, err = patchYAML([]byte("name: api\ntemplate:\n  containers: []\n"), []byte(`{"properties": {"template": {"revisionSuffix": "v3"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "name: api\ntemplate:\n  containers: []\n  revisionSuffix: v3\n"; string(got) != want {
		t.Errorf("top-level template:\n%s\nwant:\n%s", got, want)
	}
	if _, err := patchYAML([]byte("name: api\n"), []byte(`[1]`)); err == nil {
		t.Error("a patch that is not an object is accepted")
	}
}

// armWriteFake is armFake with the app's file on disk.
func armWriteFake(t *testing.T) (*fakeManaged, string) {
	t.Helper()
	f := armFake(t)
	path := filepath.Join(t.TempDir(), "api.yaml")
	if err := os.WriteFile(path, []byte(armTestApp), 0o640); err != nil {
		t.Fatal(err)
	}
	f.spec.Apps[0].File, f.spec.Apps[0].Path = "api.yaml", path
	return f, path
}

func TestARMPatch(t *testing.T) {
	f, path := armWriteFake(t)
	c := serveAPI(t, f)
	var app spec.ContainerApp
	etag, err := c.ARMWithETag(t.Context(), "/containerApps/api", &app)
	if err != nil || etag == "" {
		t.Fatalf("GET: etag %q, %v", etag, err)
	}
	patch := map[string]any{"properties": map[string]any{"template": map[string]any{"scale": map[string]any{"maxReplicas": 2}}}}
	next, err := c.ARMPatch(t.Context(), "/containerApps/api", etag, patch, &app)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if next == etag || next != etagOf(data) || !strings.Contains(string(data), "maxReplicas: 2") {
		t.Errorf("after the patch: etag %s (was %s), file:\n%s", next, etag, data)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("the file's mode is %v, want it kept", info.Mode())
	}
	if f.reloads != 1 {
		t.Errorf("%d reloads, want 1", f.reloads)
	}

	// The ETag read before that patch is stale now.
	_, err = c.ARMPatch(t.Context(), "/containerApps/api", etag, patch, &app)
	if err == nil || !strings.Contains(err.Error(), "(PreconditionFailed) app api changed since it was read") {
		t.Errorf("stale If-Match: %v, want PreconditionFailed", err)
	}
	status, _, _ := get(t, c, "GET", ARMPrefix+"/containerApps/api")
	if status != 200 {
		t.Errorf("GET after a 412: %d", status)
	}
}

func TestARMPatchInvalid(t *testing.T) {
	f, path := armWriteFake(t)
	c := serveAPI(t, f)
	var app spec.ContainerApp
	for patch, want := range map[string]string{
		`{"properties": {"template": {"scale": {"minReplicas": 5, "maxReplicas": 1}}}}`: "(ContainerAppInvalidProperties) the update makes app api invalid; nothing was changed:\napi.yaml:",
		`{"name": "other"}`: "(InvalidRequestContent) the name of app api cannot change",
		`{"properties": {"configuration": {"service": {"type": "redis"}}}}`:                                                          "(ContainerAppOperationError) only a restart of the environment applies this update (app api: its configuration (service, identitySettings or runtime) changed); nothing was changed: edit api.yaml",
		`{"properties": {"template": {"containers": [{"name": "api", "image": "x", "env": [{"name": "A", "secretRef": "nope"}]}]}}}`: "secretRef",
	} {
		body := json.RawMessage(patch)
		_, err := c.ARMPatch(t.Context(), "/containerApps/api", "", body, &app)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("patch %s: %v, want an error with %q", patch, err, want)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != armTestApp || f.reloads != 0 {
		t.Errorf("an invalid patch changed the file or reloaded (%d):\n%s", f.reloads, data)
	}

	// A revision that does not get ready puts the file back.
	f.reloadRes = ReloadResult{Errors: []string{"app api: revision api--v3 did not get ready"}}
	_, err := c.ARMPatch(t.Context(), "/containerApps/api", "", json.RawMessage(`{"properties": {"template": {"revisionSuffix": "v3"}}}`), &app)
	if err == nil || !strings.Contains(err.Error(), "(ContainerAppOperationError) app api was not updated: app api: revision api--v3 did not get ready; it runs as before") {
		t.Errorf("failed revision: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != armTestApp {
		t.Errorf("the file was not put back:\n%s", data)
	}
	if _, err := c.ARMPatch(t.Context(), "/containerApps/nope", "", json.RawMessage(`{}`), &app); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("patch of a missing app: %v", err)
	}
}

func TestARMCreateDelete(t *testing.T) {
	f, apiPath := armWriteFake(t)
	dir := filepath.Dir(apiPath)
	envFile := filepath.Join(dir, "cove.yaml")
	envYAML := "# the shop\nname: shop\napps:\n  - file: api.yaml # the API\n    command: ./api\n"
	if err := os.WriteFile(envFile, []byte(envYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	f.spec.File = envFile
	c := serveAPI(t, f)

	// Reloading makes the environment what the files say.
	f.onReload = func() {
		env, err := spec.Load(envFile)
		if err != nil {
			f.reloadErr = err
			return
		}
		f.reloadErr = nil
		f.spec.Apps = nil
		for _, e := range env.Apps {
			f.spec.Apps = append(f.spec.Apps, AppSpec{App: e.App, File: e.File, Path: e.Path, Templates: map[string]*spec.Template{}})
		}
	}
	body := json.RawMessage(`{"name": "web", "id": "/x", "location": "local", "properties": {"provisioningState": "Succeeded",
		"configuration": {"ingress": {"external": true, "targetPort": 8080, "fqdn": "web.localhost"}},
		"template": {"containers": [{"name": "web", "image": "web:1"}]}}, "local": {"command": "./web --port 8080", "env": {"A": "1"}}}`)
	var app spec.ContainerApp
	if err := c.ARMPut(t.Context(), "/containerApps/web", body, &app); err != nil {
		t.Fatal(err)
	}
	if app.Name != "web" || app.Properties.Configuration.Ingress.FQDN != "web.shop.localhost" {
		t.Errorf("created app: %+v", app)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "web.yaml"))
	want := `name: web
properties:
  configuration:
    ingress:
      external: true
      targetPort: 8080
  template:
    containers:
      - name: web
        image: web:1
`
	if string(data) != want {
		t.Errorf("web.yaml:\n%s\nwant:\n%s", data, want)
	}
	envData, _ := os.ReadFile(envFile)
	wantEnv := envYAML + "  - file: web.yaml\n    command: ./web --port 8080\n    env:\n      A: \"1\"\n"
	if string(envData) != wantEnv {
		t.Errorf("cove.yaml:\n%s\nwant:\n%s", envData, wantEnv)
	}
	if err := c.ARMPut(t.Context(), "/containerApps/web", body, &app); err == nil || !strings.Contains(err.Error(), "app web exists") {
		t.Errorf("second create: %v", err)
	}
	// An invalid app is refused with its problems, and nothing is written.
	bad := json.RawMessage(`{"properties": {"template": {"containers": [{"name": "x", "image": "x"}], "scale": {"minReplicas": 3, "maxReplicas": 1}}}}`)
	if err := c.ARMPut(t.Context(), "/containerApps/bad", bad, &app); err == nil || !strings.Contains(err.Error(), "(ContainerAppInvalidProperties) app bad is invalid") {
		t.Errorf("invalid create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.yaml")); err == nil {
		t.Error("an invalid app's file was written")
	}
	// An app the environment refuses (no command and no image to run
	// here is fine; a secretRef to no secret is not) puts everything back.
	refused := json.RawMessage(`{"properties": {"template": {"containers": [{"name": "x", "image": "x", "env": [{"name": "A", "secretRef": "nope"}]}]}}}`)
	if err := c.ARMPut(t.Context(), "/containerApps/refused", refused, &app); err == nil {
		t.Error("an app with a dangling secretRef was created")
	}
	if got, _ := os.ReadFile(envFile); string(got) != wantEnv {
		t.Errorf("cove.yaml after a refused create:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "refused.yaml")); err == nil {
		t.Error("a refused app's file was left")
	}

	if err := c.ARMDelete(t.Context(), "/containerApps/web"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(envFile); string(got) != envYAML {
		t.Errorf("cove.yaml after delete:\n%s\nwant:\n%s", got, envYAML)
	}
	if _, err := os.Stat(filepath.Join(dir, "web.yaml.deleted")); err != nil {
		t.Errorf("the deleted app's file is not kept: %v", err)
	}
	if err := c.ARMDelete(t.Context(), "/containerApps/web"); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("delete of a deleted app: %v", err)
	}
}

// TestARMRevisionOps activates, deactivates and restarts revisions through
// the ARM-shaped API: the refusals, and the traffic entries written.
func TestARMRevisionOps(t *testing.T) {
	f, path := armWriteFake(t)
	// v3 is active at 0% because the traffic names it; v0 is inactive.
	withV3 := strings.Replace(armTestApp, "        - revisionName: api--v2\n          weight: 100\n",
		"        - revisionName: api--v2\n          weight: 100\n        - revisionName: api--v3\n          weight: 0\n", 1)
	if err := os.WriteFile(path, []byte(withV3), 0o640); err != nil {
		t.Fatal(err)
	}
	st := &f.status.Apps[0]
	st.Revisions = append(st.Revisions, RevisionStatus{Name: "api--v3", State: "active", Replicas: 1, Ready: 1})
	f.spec.Apps[0].Inactive = []InactiveRevision{{Name: "api--v0"}}
	c := serveAPI(t, f)
	post := func(rev, op string) error {
		return c.ARMPost(t.Context(), "/containerApps/api/revisions/"+rev+"/"+op, nil)
	}

	for _, tc := range []struct{ rev, op, want string }{
		{"api--v2", "deactivate", "(ContainerAppOperationError) revision api--v2 is the latest of app api"},
		{"api--v1", "deactivate", "revision api--v1 is stopping"},
		{"api--v1", "restart", "revision api--v1 is stopping, not active"},
		{"api--v0", "restart", "revision api--v0 is inactive"},
		{"api--v9", "activate", "(ResourceNotFound) The Resource 'Microsoft.App/containerApps/revisions/api--v9'"},
		{"api--v2", "promote", "a revision has no operation \"promote\""},
	} {
		if err := post(tc.rev, tc.op); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.op, tc.rev, err, tc.want)
		}
	}
	if f.reloads != 0 {
		t.Errorf("a refused operation reloaded (%d)", f.reloads)
	}

	if err := post("api--v2", "restart"); err != nil || len(f.restarts) != 1 || f.restarts[0] != "api/api--v2" {
		t.Errorf("restart: %v, restarts %q", err, f.restarts)
	}
	// As asked already: nothing to write.
	if err := post("api--v2", "activate"); err != nil {
		t.Error(err)
	}
	if err := post("api--v0", "deactivate"); err != nil {
		t.Error(err)
	}
	if f.reloads != 0 {
		t.Errorf("%d reloads for operations with nothing to do", f.reloads)
	}

	traffic := func() []spec.TrafficWeight {
		data, _ := os.ReadFile(path)
		app, probs := spec.ParseContainerApp("api.yaml", data)
		if probs.Err() != nil {
			t.Fatalf("%v\n%s", probs, data)
		}
		return app.Properties.Configuration.Ingress.Traffic
	}
	if err := post("api--v3", "deactivate"); err != nil {
		t.Fatal(err)
	}
	if got, want := traffic(), []spec.TrafficWeight{{RevisionName: "api--v2", Weight: 100}}; !cmp.Equal(got, want) {
		t.Errorf("after deactivate: traffic %+v, want %+v", got, want)
	}
	if err := post("api--v0", "activate"); err != nil {
		t.Fatal(err)
	}
	if got, want := traffic(), []spec.TrafficWeight{{RevisionName: "api--v2", Weight: 100}, {RevisionName: "api--v0"}}; !cmp.Equal(got, want) {
		t.Errorf("after activate: traffic %+v, want %+v", got, want)
	}
	if f.reloads != 2 {
		t.Errorf("%d reloads, want one per change", f.reloads)
	}
}

func TestARMComponentSetRemove(t *testing.T) {
	f, apiPath := armWriteFake(t)
	dir := filepath.Dir(apiPath)
	envFile := filepath.Join(dir, "cove.yaml")
	envYAML := "name: shop\napps:\n  - file: api.yaml\n    command: ./api\n"
	if err := os.WriteFile(envFile, []byte(envYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	f.spec.File = envFile
	f.onReload = func() {
		env, err := Load(envFile)
		if f.reloadErr = err; err != nil {
			return
		}
		f.spec.Components = nil
		for _, c := range env.Components {
			f.spec.Components = append(f.spec.Components, c.Component)
		}
	}
	c := serveAPI(t, f)
	body := json.RawMessage(`{"properties": {"componentType": "state.redis", "version": "v1",
		"metadata": [{"name": "redisHost", "value": "localhost:6379"}], "scopes": ["api"]}}`)
	var dc ARMDaprComponent
	if err := c.ARMPut(t.Context(), "/managedEnvironments/shop/daprComponents/statestore", body, &dc); err != nil {
		t.Fatal(err)
	}
	if dc.Name != "statestore" || dc.Properties.ComponentType != "state.redis" {
		t.Errorf("set: %+v", dc)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "statestore.component.yaml"))
	if want := "componentType: state.redis\nversion: v1\nmetadata:\n  - name: redisHost\n    value: localhost:6379\nscopes:\n  - api\n"; string(data) != want {
		t.Errorf("component file:\n%s\nwant:\n%s", data, want)
	}
	withComp := envYAML + "components:\n  - name: statestore\n    file: statestore.component.yaml\n"
	if got, _ := os.ReadFile(envFile); string(got) != withComp {
		t.Errorf("cove.yaml:\n%s\nwant:\n%s", got, withComp)
	}
	// A second set changes the file cove.yaml names, and nothing else.
	body = json.RawMessage(`{"properties": {"componentType": "state.redis", "version": "v1",
		"metadata": [{"name": "redisHost", "value": "localhost:6380"}]}}`)
	if err := c.ARMPut(t.Context(), "/managedEnvironments/shop/daprComponents/statestore", body, &dc); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(envFile); string(got) != withComp {
		t.Errorf("cove.yaml after a second set:\n%s", got)
	}
	bad := json.RawMessage(`{"properties": {"componentType": "state.nope", "version": "v1"}}`)
	if err := c.ARMPut(t.Context(), "/managedEnvironments/shop/daprComponents/other", bad, &dc); err == nil {
		t.Error("a component of an unknown type was set")
	}
	if err := c.ARMPut(t.Context(), "/managedEnvironments/nope/daprComponents/other", body, &dc); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("set in another environment: %v", err)
	}
	if err := c.ARMDelete(t.Context(), "/managedEnvironments/shop/daprComponents/statestore"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(envFile); string(got) != envYAML+"components: []\n" {
		t.Errorf("cove.yaml after remove:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "statestore.component.yaml.deleted")); err != nil {
		t.Errorf("the removed component's file is not kept: %v", err)
	}
	if err := c.ARMDelete(t.Context(), "/managedEnvironments/shop/daprComponents/statestore"); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("remove of a removed component: %v", err)
	}
}
