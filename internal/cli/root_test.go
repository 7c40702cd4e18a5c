package cli

import (
	"bytes"
	"strings"
	"testing"
)

// run runs the CLI with args and returns what it wrote and its error.
func run(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := New(&out, &out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestVersionAndDashDashVersionAgree(t *testing.T) {
	v, err := run("version")
	if err != nil {
		t.Fatal(err)
	}
	dv, err := run("--version")
	if err != nil {
		t.Fatal(err)
	}
	if v != dv || !strings.HasPrefix(v, "cove ") {
		t.Errorf("cove version printed %q, cove --version %q; want the same line", v, dv)
	}
	// -v is --verbose (cove up -v), never --version.
	if out, err := run("-v"); err == nil {
		t.Errorf("cove -v succeeded with %q; want an unknown flag", out)
	}
}

func TestFlagHelpHasNoPlaceholderFromBackticks(t *testing.T) {
	for _, c := range []string{"logs", "exec"} {
		out, err := run(c, "--help")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "--replica string") {
			t.Errorf("cove %s --help: want --replica string in\n%s", c, out)
		}
	}
}
