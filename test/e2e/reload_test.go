package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadUnchangedWithRelativeFile starts an environment the way the
// README does, with a -f relative to the working directory, and checks
// that reloading the unchanged files applies nothing and asks for no
// restart.
func TestReloadUnchangedWithRelativeFile(t *testing.T) {
	file := smallEnv(t, "reloadrel", smallApp{name: "web", mode: "http"})
	parent := filepath.Dir(filepath.Dir(file))
	rel, err := filepath.Rel(parent, file)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, parent, file, "up", "-f", rel)
	e.waitFor("is ready", time.Minute)

	reload := exec.Command(coveBin, "reload", "-f", rel)
	reload.Dir = parent
	out, err := reload.CombinedOutput()
	if err != nil {
		t.Fatalf("cove reload: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "nothing to apply" {
		t.Fatalf("cove reload of unchanged files printed:\n%s\nwant only \"nothing to apply\"", out)
	}
	e.stop()
}
