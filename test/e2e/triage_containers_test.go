package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/test/internal/testenv"
)

// TestTriageInContainers runs the triage example from its images alone:
// each app built into an image (its static binary, and the test app as
// /probe for cove exec), named as the apps' YAML names them, and a cove.yaml
// with no command. The backend's two replicas both listen on 8000; the
// frontend reaches the backend through Dapr invocation at localhost:3500
// in its pod, the backend keeps patients through its sidecar, the notifier
// gets the backend's events, and app names resolve inside the pods.
func TestTriageInContainers(t *testing.T) {
	eachEngine(t, testTriageInContainers)
}

func testTriageInContainers(t *testing.T, eng string) {
	containerImage(t, eng) // the engine, or skip
	// The YAML's image, triage-<app>:latest: podman finds it among local
	// images as localhost/triage-<app>:latest, docker by that name.
	repo := "localhost/"
	if eng == "docker" {
		repo = ""
	}
	dir := copyExample(t, "triage")
	probe, err := filepath.Abs("./testdata/containerapp")
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"backend", "frontend", "notifier"} {
		bins := map[string]string{"app": filepath.Join(dir, app), "probe": probe}
		if err := buildImage(eng, repo+"triage-"+app+":latest", bins); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "cove.containers.yaml")
	writeFile(t, dir, "cove.containers.yaml", `name: triage-containers
apps:
  - file: backend/containerapp.yaml
  - file: frontend/containerapp.yaml
  - file: notifier/containerapp.yaml
components:
  - name: statestore
    file: components/statestore.yaml
  - name: pubsub
    file: components/pubsub.yaml
`)
	e := upOn(t, eng, file)

	ready := map[string]int{}
	for _, a := range e.status().Apps {
		for _, r := range a.Replicas {
			if r.Ready && len(r.Containers) == 1 && r.Containers[0].Image == repo+a.Name+":latest" {
				ready[a.Name]++
			}
		}
	}
	if ready["triage-backend"] != 2 || ready["triage-frontend"] != 1 || ready["triage-notifier"] != 1 {
		t.Fatalf("ready container replicas per app: %v, want 2 backends, a frontend and a notifier", ready)
	}

	out, err := e.cove("exec", "triage-frontend", "--", "/probe", "get", "http://localhost:3500/v1.0/invoke/triage-backend/method/api/health")
	if err != nil || !strings.HasPrefix(out, "200 ") || !strings.Contains(out, `"storage":"dapr"`) {
		t.Errorf("the backend's health through the frontend's sidecar at localhost:3500: %q, %v", out, err)
	}
	name := fmt.Sprintf("Container Patient %d", time.Now().UnixNano())
	if code, body := e.edge(t, http.MethodPost, "triage-frontend", "/api/patients", `{"name":"`+name+`","urgency":"High"}`); code != http.StatusCreated {
		t.Fatalf("POST /api/patients through the frontend: %d %q", code, body)
	}
	// Whichever backend replica answers, the patient is in the state store.
	for range 4 {
		if code, body := e.edge(t, http.MethodGet, "triage-frontend", "/api/patients", ""); code != http.StatusOK || !strings.Contains(body, name) {
			t.Errorf("GET /api/patients: %d, lacks %q: %s", code, name, body)
		}
	}
	// The notifier got the backend's event; asked by name from a backend's
	// pod (in the frontend's, which listens on 80 itself, port 80 is its own).
	var notes string
	testenv.Poll(30*time.Second, 200*time.Millisecond, func() bool {
		notes, _ = e.cove("exec", "triage-backend", "--", "/probe", "get", "http://triage-notifier/api/notifications")
		return strings.Contains(notes, name)
	})
	if !strings.Contains(notes, name) {
		t.Errorf("the notifier's notifications lack %q: %s", name, notes)
	}
	e.stop()
}
