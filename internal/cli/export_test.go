package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportKubernetesNamesBrokenFileAndLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cove.yaml", "name: broken\napps:\n  - file: app.yaml\n    runtime: container\n")
	write("app.yaml", "name: app\nproperties:\n  template:\n    containers:\n      - name: app\n        imgae: app:1\n")
	out, err := run("export", "kubernetes", "-f", dir)
	if err == nil {
		t.Fatalf("export of a broken environment succeeded:\n%s", out)
	}
	if !strings.Contains(out, "app.yaml:6:") || !strings.Contains(out, "imgae") {
		t.Errorf("want the problem at app.yaml:6 naming imgae, got:\n%s", out)
	}
	if strings.Contains(out, "kind: Deployment") {
		t.Errorf("manifests written despite the problem:\n%s", out)
	}
}

func TestExportKubernetesStdout(t *testing.T) {
	out, err := run("export", "kubernetes", "-f", "../../examples/triage/cove.yaml", "--namespace", "triage", "--domain", "apps.example.net")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"kind: Deployment", "namespace: triage", "host: triage-frontend.apps.example.net",
		"kind: Component", "warning: component pubsub (pubsub.jetstream)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
