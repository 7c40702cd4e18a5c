package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// y strips the newline after an opening backtick so that line 1 of a test
// document is its first written line.
func y(s string) string { return strings.TrimPrefix(s, "\n") }

// brief renders a problem without its file: "14:9 path: message".
func brief(p Problem) string {
	return fmt.Sprintf("%d:%d %s: %s", p.Line, p.Column, p.Path, p.Message)
}

func briefs(ps Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = brief(p)
	}
	return out
}

// checkProblems compares problems with wants of the form
// "line:col path: fragment": position and path must match exactly and the
// message must contain the fragment.
func checkProblems(t *testing.T, kind string, got Problems, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d, want %d:\n  got:  %s\n  want: %s", kind, len(got), len(want),
			strings.Join(briefs(got), "\n        "), strings.Join(want, "\n        "))
		return
	}
	for i, w := range want {
		head, frag, _ := strings.Cut(w, ": ")
		g := brief(got[i])
		if !strings.HasPrefix(g, head+": ") || !strings.Contains(got[i].Message, frag) {
			t.Errorf("%s %d:\n  got  %s\n  want %s", kind, i, g, w)
		}
	}
}

// writeFiles creates files (relative path → content) under a new temporary
// directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
