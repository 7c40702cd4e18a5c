package control

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDocsNameTheExampleRevisions checks that the revision and replica
// names the README and docs show for the example environment are the ones
// a run of it gets (revision suffixes are a hash of each app's template
// and command), so that a reader can type them.
func TestDocsNameTheExampleRevisions(t *testing.T) {
	root := filepath.Join("..", "..")
	env, err := Load(filepath.Join(root, "examples", "triage", "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]string{}
	for _, entry := range env.Apps {
		real[entry.App.Name] = entry.App.Name + "--" + revisionSuffix(entry)
	}
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"), filepath.Join(root, "internal", "cli", "logs.go"),
		filepath.Join(root, "internal", "cli", "exec.go"))
	named := regexp.MustCompile(`\b(triage-backend|triage-frontend)--[a-z0-9]{7}\b`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllSubmatch(b, -1) {
			if want := real[string(m[1])]; string(m[0]) != want {
				t.Errorf("%s names revision %s; a run of the example has %s", f, m[0], want)
			}
		}
	}
}
