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
// packages it must not import, each rule with its reason.
var forbidden = map[string][]string{
	// Leaves: small packages with one job each, testable alone and usable
	// from any layer without dragging another in.
	"daprerr":      {"*"}, // the error catalog every front end and block shares
	"routing":      {"*"}, // the table the edge, the sidecars and the supervisor read
	"security":     {"*"}, // the CA; the edge, sidecars and CLI use it
	"resiliency":   {"*"}, // policies at run time, configured by resources
	"tracecontext": {"*"}, // W3C parsing for the sidecar and invoke
	"upstream":     {"*"}, // the edge's transport: performance-sensitive, kept bare
	"h1":           {"*"}, // the HTTP/1.1 server: performance-sensitive, kept bare
	"testaddr":     {"*"}, // test helpers any package's tests may use
	"testlog":      {"*"}, // test helpers any package's tests may use
	"testuser":     {"*"}, // test helpers any package's tests may use
	"metrics":      {"*"}, // daprd's metric families, recorded from the sidecar
	"hosts":        {"*"}, // the hosts file, written by control, read by the launcher
	"spec":         {"*"}, // parsing must not depend on the runtime it configures (textmatch aside)
	"supervisor":   {"*"}, // processes know nothing of Dapr or ingress (routing aside)
	"engine":       {"*"}, // the container engine's command line; pods know nothing of apps
	"netns":        {"*"}, // network namespaces and the relays across them, for pods and process replicas
	"textmatch":    {"*"}, // "did you mean", shared by spec and the registry
	"placement":    {"*"}, // the placement service: Dapr's protocol, no cove runtime (metrics aside)
	"kube":         {"*"}, // the Kubernetes export reads a loaded environment, never a running one (spec aside)
	// Component interfaces and implementations are plugged into blocks, not
	// the other way round; they never see a file format.
	"components": {"blocks", "sidecar", "edge", "supervisor", "control", "cli", "spec", "daprapp"},
	// Blocks are protocol-agnostic cores: front ends (sidecar) call them.
	"blocks": {"sidecar", "edge", "supervisor", "control", "cli", "spec", "daprapp"},
	// The sidecar serves the APIs over blocks; it is configured through
	// sidecar.Config, never from files.
	"sidecar": {"edge", "supervisor", "control", "cli", "spec", "daprapp"},
	// The edge routes HTTP and TCP by the routing table alone; Dapr is not
	// its business.
	"edge": {"sidecar", "blocks", "components", "supervisor", "control", "cli", "spec"},
	// Resources turn files into runtime objects for both hosts; they must not
	// depend on either host or on what serves the objects.
	"resources": {"sidecar", "edge", "supervisor", "control", "standalone", "cli", "daprapp"},
	// daprapp is what both hosts share of an app's sidecars; the hosts
	// depend on it, not it on them.
	"daprapp": {"edge", "supervisor", "control", "standalone", "cli"},
	// A standalone sidecar runs outside an environment: no edge, no
	// processes, no control plane.
	"standalone": {"edge", "supervisor", "control", "cli"},
	// The control plane is driven by the CLI, never the reverse.
	"control": {"cli"},
}

// allowedLeaf lists what packages marked "*" may still import.
var allowedLeaf = map[string][]string{"supervisor": {"routing"}, "spec": {"textmatch"}, "placement": {"metrics"}, "engine": {"netns"}, "kube": {"spec"}}

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
