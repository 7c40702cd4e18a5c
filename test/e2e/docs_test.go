package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/test/internal/testenv"
)

// codeAfter returns the lines of the first fenced code block of a
// repository file after the text marker.
func codeAfter(t *testing.T, file, marker string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), file))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("%s no longer has %q", file, marker)
	}
	_, rest, ok = strings.Cut(rest, "```")
	if ok {
		_, rest, ok = strings.Cut(rest, "\n") // the fence's language
	}
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatalf("%s: no code block after %q", file, marker)
	}
	return strings.Split(strings.TrimRight(block, "\n"), "\n")
}

// TestDocsValidateExample runs the validate example of
// docs/environment.md and compares its output with the page.
func TestDocsValidateExample(t *testing.T) {
	const cmdLine = "$ cove validate -f test/e2e/testdata/broken/cove.yaml"
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "environment.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, cmdLine+"\n")
	if i < 0 {
		t.Fatalf("docs/environment.md no longer has %q", cmdLine)
	}
	want := text[i+len(cmdLine)+1:]
	want = want[:strings.Index(want, "```")]
	cmd := exec.Command(coveBin, "validate", "-f", "test/e2e/testdata/broken/cove.yaml")
	cmd.Dir = testenv.RepoRoot()
	got, _ := cmd.CombinedOutput()
	if string(got) != want {
		t.Errorf("cove validate prints:\n%s\ndocs/environment.md shows:\n%s", got, want)
	}
}

// TestReadmeQuickstart runs the example environment and then the commands
// the README's quick start gives for another terminal, from a directory
// outside the environment, as written (bin/cove is the binary under test,
// and the edge's port is the test's own); then the examples of cove exec
// and cove logs in docs/cli.md but --follow, which does not end.
func TestReadmeQuickstart(t *testing.T) {
	lines := codeAfter(t, "README.md", "the commands find the running environment")
	for _, section := range []string{"## cove exec", "## cove logs"} {
		for _, l := range codeAfter(t, "docs/cli.md", section) {
			if !strings.Contains(l, "--follow") {
				lines = append(lines, "bin/"+l)
			}
		}
	}
	dir := copyExample(t, "triage")
	file := filepath.Join(dir, "cove.yaml")
	vars := []string{"XDG_RUNTIME_DIR=" + t.TempDir()}
	e := startWith(t, "", file, vars, "up", "-f", file)
	e.waitFor("is ready", 3*time.Minute)
	elsewhere := t.TempDir()
	for _, l := range lines {
		l = strings.ReplaceAll(l, "bin/cove", coveBin)
		l = strings.ReplaceAll(l, "localhost:8080", fmt.Sprintf("localhost:%d", e.httpPort))
		cmd := exec.Command("sh", "-c", "set -e; "+l)
		cmd.Dir, cmd.Env = elsewhere, append(os.Environ(), vars...)
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) == 0 {
			t.Errorf("%s: %v\n%s", l, err, out)
		}
	}
	e.stop()
}

// TestDocsPubsubExample runs docs/pubsub.md's publishing commands against
// the triage example: the event published from the backend's replica
// reaches the notifier.
func TestDocsPubsubExample(t *testing.T) {
	var cmds []string
	cur := ""
	for _, l := range codeAfter(t, "docs/pubsub.md", "## Publishing") {
		cur += strings.TrimSuffix(strings.TrimSpace(l), "\\") + " "
		if !strings.HasSuffix(strings.TrimSpace(l), "\\") {
			cmds = append(cmds, strings.TrimSpace(cur))
			cur = ""
		}
	}
	if len(cmds) != 2 || !strings.HasPrefix(cmds[0], "cove exec triage-backend") {
		t.Fatalf("docs/pubsub.md's publishing block changed: %q", cmds)
	}
	dir := copyExample(t, "triage")
	file := filepath.Join(dir, "cove.yaml")
	vars := []string{"XDG_RUNTIME_DIR=" + t.TempDir()}
	e := startWith(t, "", file, vars, "up", "-f", file)
	e.waitFor("is ready", 3*time.Minute)
	run := func(l string) (string, error) {
		cmd := exec.Command("sh", "-c", "set -e; "+coveBin+strings.TrimPrefix(l, "cove"))
		cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), vars...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(cmds[0]); err != nil {
		t.Fatalf("%s: %v\n%s", cmds[0], err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := run(cmds[1])
		if err == nil && strings.Contains(out, `"name":"Jane Doe"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v\n%s", cmds[1], err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.stop()
}

// TestDocsLockAndBindingsExamples runs the curl examples of docs/lock.md
// and docs/bindings.md against a sidecar with the components they name and
// compares each answer with the comment that follows it on the page.
func TestDocsLockAndBindingsExamples(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "cove.yaml", "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n  - {name: lockstore, file: lock.yaml}\n  - {name: files, file: files.yaml}\n")
	writeFile(t, dir, "app.yaml", "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n")
	writeFile(t, dir, "lock.yaml", "componentType: lock.in-memory\nversion: v1\n")
	writeFile(t, dir, "files.yaml", fmt.Sprintf("componentType: bindings.localstorage\nversion: v1\nmetadata:\n  - {name: rootPath, value: %q}\n", filepath.Join(dir, "files")))
	e := up(t, filepath.Join(dir, "cove.yaml"))
	port := e.status().Apps[0].Replicas[0].DaprHTTPPort
	for _, doc := range []string{"docs/lock.md", "docs/bindings.md"} {
		var cur string
		n := 0
		for _, l := range codeAfter(t, doc, "## The API") {
			cur += strings.TrimSuffix(strings.TrimSpace(l), "\\") + " "
			if strings.HasSuffix(strings.TrimSpace(l), "\\") {
				continue
			}
			cmd, want, _ := strings.Cut(cur, "# ")
			cur = ""
			c := exec.Command("sh", "-c", "curl -s "+strings.TrimPrefix(strings.TrimSpace(cmd), "curl "))
			c.Env = append(os.Environ(), fmt.Sprintf("DAPR_HTTP_PORT=%d", port))
			out, err := c.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != strings.TrimSpace(want) {
				t.Errorf("%s: %s\n= %s (%v); the page says %s", doc, cmd, out, err, want)
			}
			n++
		}
		if n < 2 {
			t.Errorf("%s: %d examples found under ## The API", doc, n)
		}
	}
}
