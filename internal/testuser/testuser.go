// Package testuser runs a test binary's tests again as a user other than
// root, so that a suite run as root (as CI runs it) also covers what cove
// does without root.
package testuser

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Nobody is the user the tests run as: nobody, on Debian and most others.
const Nobody = 65534

// env marks the process that runs as Nobody.
const env = "COVE_TEST_AS_NOBODY"

// Is reports whether this test binary runs as Nobody for Rerun.
func Is() bool { return os.Getenv(env) != "" }

// Rerun runs the tests of this binary that pattern matches (-test.run) as
// Nobody, with the binary copied into a directory of that user's, also
// its temporary directory, and fails
// when one fails or skips; the output is logged. It skips unless the test
// runs as root.
func Rerun(t *testing.T, pattern string) {
	t.Helper()
	if os.Geteuid() != 0 || Is() {
		t.Skip("switching to another user takes root")
	}
	dir, err := os.MkdirTemp("", "cove-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, filepath.Base(os.Args[0]))
	CopyExecutable(t, os.Args[0], exe)
	cmd := exec.CommandContext(t.Context(), exe, "-test.run="+pattern, "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env+"=1", "HOME="+dir, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	out, err := cmd.CombinedOutput()
	t.Logf("as user %d:\n%s", Nobody, out)
	if err != nil {
		t.Fatalf("the tests as user %d: %v", Nobody, err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Errorf("a test skipped as user %d", Nobody)
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Errorf("no test matching %q ran as user %d", pattern, Nobody)
	}
}

// CopyExecutable copies the program from to to, which every user may run.
func CopyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
