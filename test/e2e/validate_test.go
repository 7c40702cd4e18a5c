package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cove-env/cove/test/internal/testenv"
)

// TestValidateReportsEveryProblem checks that `cove validate` prints all
// three mistakes of the broken environment, each with file:line:column and
// the field path, and exits non-zero.
func TestValidateReportsEveryProblem(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "test", "e2e", "testdata", "broken")
	cmd := exec.Command(coveBin, "validate", "-f", filepath.Join(dir, "cove.yaml"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("cove validate: %v, want exit status 1\n%s", err, out.String())
	}
	for _, want := range []string{
		`app\.yaml:7:\d+: properties\.configuration\.ingress\.transport: .*htpp`,
		`app\.yaml:11:\d+: properties\.template\.containers\[0\]\.imagee: unknown field.*image`,
		`statestore\.yaml:5:\d+: metadata\[0\]\.secretRef: .*missing-secret`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks a line matching %s:\n%s", want, out.String())
		}
	}
}

// TestValidateExample checks that the shipped examples are valid.
func TestValidateExample(t *testing.T) {
	for _, f := range []string{"cove.yaml", "cove.redis.yaml"} {
		out, err := exec.Command(coveBin, "validate", "-f", filepath.Join(testenv.RepoRoot(), "examples", "triage", f)).CombinedOutput()
		if err != nil {
			t.Errorf("cove validate %s: %v\n%s", f, err, out)
		}
	}
}
