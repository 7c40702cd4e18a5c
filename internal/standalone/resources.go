package standalone

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cove-env/cove/internal/spec"
)

// Resources are the components found in the resources paths, and what was
// skipped and why.
type Resources struct {
	// Components are those this app may load, in file order.
	Components []*spec.Component
	// Resiliency are the Resiliency resources scoped to this app, as daprd
	// loads them from its resources path.
	Resiliency []*spec.Resiliency
	// Skipped says, per skipped document, why (out of scope, a resource
	// kind cove does not load yet).
	Skipped []string
}

// LoadResources reads every .yaml and .yml file in paths (each a directory,
// read without descending, or a file), every document in each file. A
// document is a Dapr Component (apiVersion dapr.io/v1alpha1) or an ACA
// component file, named after its file as ACA's CLI names it after its
// argument, or a Dapr Resiliency. Other Dapr resources (Subscription,
// Configuration, ...) are skipped. Components scoped to other apps, or in another namespace, are
// skipped. Every problem in every file is reported at once, with file and
// line.
func LoadResources(paths []string, appID, namespace string) (*Resources, error) {
	res := &Resources{}
	var probs spec.Problems
	byName := map[string]*spec.Component{}
	for _, p := range paths {
		files, err := resourceFiles(p)
		if err != nil {
			probs = append(probs, spec.Problem{File: p, Message: err.Error(), Severity: spec.SeverityError})
			continue
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				probs = append(probs, spec.Problem{File: file, Message: err.Error(), Severity: spec.SeverityError})
				continue
			}
			for _, doc := range splitDocuments(data) {
				if isKind(doc, "Resiliency") {
					r, ps := spec.ParseResiliency(file, doc)
					probs = append(probs, ps...)
					switch {
					case r == nil:
					case !r.InScope(appID):
						res.Skipped = append(res.Skipped, fmt.Sprintf("%s: resiliency %s is scoped to %s", file, r.Name, strings.Join(r.Scopes, ", ")))
					default:
						res.Resiliency = append(res.Resiliency, r)
					}
					continue
				}
				c, ps, skip := parseDocument(file, doc)
				probs = append(probs, ps...)
				if skip != "" {
					res.Skipped = append(res.Skipped, skip)
				}
				if c == nil {
					continue
				}
				if !c.InScope(appID) {
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: component %s is scoped to %s", file, c.Name, strings.Join(c.Scopes, ", ")))
					continue
				}
				if c.Namespace != "" && c.Namespace != namespace {
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: component %s is in namespace %s, not %s", file, c.Name, c.Namespace, namespace))
					continue
				}
				if prev, dup := byName[c.Name]; dup {
					probs = append(probs, spec.Problem{File: file, Line: c.TypeLine, Path: "metadata.name", Severity: spec.SeverityError,
						Message: fmt.Sprintf("component %q is also defined in %s; names must be unique", c.Name, prev.File)})
					continue
				}
				byName[c.Name] = c
				res.Components = append(res.Components, c)
			}
		}
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// resourceFiles lists the YAML files of one resources path, sorted.
func resourceFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("resources path does not exist")
		}
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// splitDocuments splits a multi-document YAML file at its "---" lines. Each
// document is padded with the newlines before it, so the parser reports
// lines of the file, not of the document.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	start, line := 0, 0
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			doc := append(bytes.Repeat([]byte("\n"), start), cur.Bytes()...)
			docs = append(docs, doc)
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for sc.Scan() {
		text := sc.Text()
		if text == "---" || strings.HasPrefix(text, "--- ") || strings.HasPrefix(text, "---\t") {
			flush()
			start = line + 1
		} else {
			cur.WriteString(text)
			cur.WriteByte('\n')
		}
		line++
	}
	flush()
	return docs
}

// header is what tells documents apart.
type header struct {
	APIVersion    string `json:"apiVersion"`
	Kind          string `json:"kind"`
	ComponentType string `json:"componentType"`
}

// parseDocument parses one document; skip says why a document that is not
// a component was passed over.
// isKind reports whether doc is a Dapr resource of kind.
func isKind(doc []byte, kind string) bool {
	var h header
	_ = yaml.Unmarshal(doc, &h)
	return h.Kind == kind && strings.HasPrefix(h.APIVersion, "dapr.io/")
}

func parseDocument(file string, doc []byte) (*spec.Component, spec.Problems, string) {
	var h header
	// A document that is not even YAML is left to the component parser,
	// which reports where.
	_ = yaml.Unmarshal(doc, &h)
	if h.Kind != "" && h.Kind != "Component" && strings.HasPrefix(h.APIVersion, "dapr.io/") {
		return nil, nil, fmt.Sprintf("%s: Dapr %s resources are not loaded from resources paths yet", file, h.Kind)
	}
	c, probs := spec.ParseComponent(file, doc)
	if c == nil {
		return nil, probs, ""
	}
	if c.Format == spec.FormatACA {
		base := filepath.Base(file)
		c.Name = strings.TrimSuffix(base, filepath.Ext(base))
		if !slices.ContainsFunc([]rune(c.Name), func(r rune) bool { return r != '-' && r != '_' && r != '.' }) {
			probs = append(probs, spec.Problem{File: file, Severity: spec.SeverityError,
				Message: "an ACA component is named after its file; this file's name is not a component name"})
			return nil, probs, ""
		}
	}
	return c, probs, ""
}
