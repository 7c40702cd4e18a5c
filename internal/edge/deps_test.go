package edge

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the edge below the control plane: it is handed routing
// tables and listeners and must not reach up for them.
func TestImports(t *testing.T) {
	const module = "github.com/cove-env/cove/internal/"
	forbidden := []string{"spec", "sidecar", "supervisor", "control", "cli", "blocks", "components"}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			rest, ok := strings.CutPrefix(path, module)
			if !ok {
				continue
			}
			for _, bad := range forbidden {
				if rest == bad || strings.HasPrefix(rest, bad+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
}
