package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
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

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1h30m":                now.Add(-90 * time.Minute),
		"2026-01-02T14:00:00Z": time.Date(2026, 1, 2, 14, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5m"} {
		if _, err := parseSince(in, now); err == nil || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseSince(%q): %v, want an error naming --since", in, err)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	help, err := run("--help")
	if err != nil || !strings.Contains(help, "completion") {
		t.Errorf("cove --help does not list completion: %v\n%s", err, help)
	}
	for shell, want := range map[string]string{"bash": "bash completion V2 for cove", "zsh": "#compdef cove", "fish": "fish completion for cove"} {
		out, err := run("completion", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("cove completion %s: %v, want a script with %q", shell, err, want)
		}
	}
	out, err := run("__complete", "containerapp", "list", "-o", "")
	if err != nil || !strings.HasPrefix(out, "json\njsonc\nyaml\ntable\ntsv\nnone\n") {
		t.Errorf("completion of -o: %v\n%s", err, out)
	}
	out, err = run("__complete", "containerapp", "revision", "set-mode", "-n", "web", "--mode", "")
	if err != nil || !strings.HasPrefix(out, "single\nmultiple\nlabels\n") {
		t.Errorf("completion of --mode: %v\n%s", err, out)
	}
}
