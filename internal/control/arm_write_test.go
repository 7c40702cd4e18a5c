package control

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		`{"properties": {"configuration": {"dapr": {"appId": "api2"}}}}`:                                                             "(ContainerAppOperationError) only a restart of the environment applies this update (app api: its Dapr settings changed); nothing was changed: edit api.yaml",
		`{"properties": {"configuration": {"ingress": null}}}`:                                                                       "app api: ingress was disabled",
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
