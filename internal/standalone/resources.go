package standalone

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cove-env/cove/internal/resources"
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
	// Subscriptions are the declarative subscriptions scoped to this app.
	Subscriptions []*spec.Subscription
	// Skipped says, per resource left out, why (out of scope, a
	// Configuration).
	Skipped []string
	// Warnings are the files' warnings (a kind cove does not run yet,
	// skipped because it says ignoreErrors, ...).
	Warnings spec.Problems
}

// LoadResources reads every .yaml and .yml file in paths (each a directory,
// read without descending, or a file), every document in each file, with
// the parser cove.yaml's files go through (spec.ParseResources): Dapr
// Components and ACA component files, Resiliency and Subscription
// resources; other Dapr resources are skipped. Components scoped to other apps, or in another
// namespace, are skipped. Every problem in every file is reported at once,
// with file and line, a component type cove cannot run among them; the
// warnings come back with the resources.
func LoadResources(paths []string, appID, namespace string) (*Resources, error) {
	res := &Resources{}
	var probs spec.Problems
	byName := map[string]*spec.Component{}
	opts := spec.Options{CheckComponent: resources.CheckType}
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
			parsed, ps := spec.ParseResources(file, data, opts)
			probs = append(probs, ps...)
			for _, r := range parsed.Resiliency {
				if !r.InScope(appID) {
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: resiliency %s is scoped to %s", file, r.Name, strings.Join(r.Scopes, ", ")))
					continue
				}
				res.Resiliency = append(res.Resiliency, r)
			}
			for _, sub := range parsed.Subscriptions {
				if !sub.InScope(appID) {
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: subscription %s is scoped to %s", file, sub.Name, strings.Join(sub.Scopes, ", ")))
					continue
				}
				res.Subscriptions = append(res.Subscriptions, sub)
			}
			for _, c := range parsed.Configurations {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: Configuration %s is read from --config, not from resources paths", file, c.Name))
			}
			for _, c := range parsed.Components {
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
	res.Warnings = probs.Warnings()
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
