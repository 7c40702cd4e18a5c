// Package internal_test enforces the architecture: dependencies between
// cove's packages point one way (cli ▶ control ▶ edge, supervisor, sidecar ▶
// building blocks ▶ component interfaces ◀ implementations). A package
// importing what it must not fails this test, so the layering is checked,
// not hoped for.
package internal_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/cove-env/cove/internal/"

// forbidden maps a package path prefix (below internal/) to the cove
// packages it must not import.
var forbidden = map[string][]string{
	"daprerr":      {"*"},
	"routing":      {"*"},
	"security":     {"*"},
	"resiliency":   {"*"},
	"tracecontext": {"*"},
	"upstream":     {"*"},
	"h1":           {"*"},
	"testaddr":     {"*"},
	"testlog":      {"*"},
	"metrics":      {"*"},
	"hosts":        {"*"},
	"spec":         {"*"},
	"supervisor":   {"*"},
	"textmatch":    {"*"},
	"components":   {"blocks", "sidecar", "edge", "supervisor", "control", "cli", "spec", "daprapp"},
	"blocks":       {"sidecar", "edge", "supervisor", "control", "cli", "spec", "daprapp"},
	"sidecar":      {"edge", "supervisor", "control", "cli", "spec", "daprapp"},
	"edge":         {"sidecar", "blocks", "components", "supervisor", "control", "cli", "spec"},
	"resources":    {"sidecar", "edge", "supervisor", "control", "standalone", "cli", "daprapp"},
	"daprapp":      {"edge", "supervisor", "control", "standalone", "cli"},
	"standalone":   {"edge", "supervisor", "control", "cli"},
	"control":      {"cli"},
}

// allowedLeaf lists what packages marked "*" may still import.
var allowedLeaf = map[string][]string{"supervisor": {"routing"}, "spec": {"textmatch"}}

func TestDependenciesPointOneWay(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			target := strings.TrimPrefix(p, module)
			if rule, bad := violates(pkg, target); bad {
				t.Errorf("%s imports %s: package %s must not import %s", path, p, rule, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// violates reports whether pkg importing target breaks a rule, and which.
func violates(pkg, target string) (string, bool) {
	for rule, deny := range forbidden {
		if pkg != rule && !strings.HasPrefix(pkg, rule+"/") {
			continue
		}
		if target == rule || strings.HasPrefix(target, rule+"/") {
			continue // a package may use its own subpackages
		}
		for _, d := range deny {
			if d == "*" {
				for _, ok := range allowedLeaf[rule] {
					if target == ok {
						return "", false
					}
				}
				return rule, true
			}
			if target == d || strings.HasPrefix(target, d+"/") {
				return rule, true
			}
		}
	}
	return "", false
}
