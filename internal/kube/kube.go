// Package kube exports a loaded cove environment as Kubernetes manifests
// for a cluster running Dapr's operator, with ingress-nginx for external
// ingress and KEDA for scale rules (what ACA itself runs on). Each app
// becomes a Deployment, its Secret, Service, Ingress and ScaledObject; each
// component a Dapr Component. Objects Kubernetes defines are built from
// k8s.io/api's types, so they are schema-correct by construction; KEDA's
// and Dapr's are small local types.
//
// What has no cluster meaning (a Key Vault reference, a component cove
// embeds, a revision split) is left out or exported as it is, with a
// warning saying so: the export never needs a running environment and
// never pretends.
package kube

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cove-env/cove/internal/spec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// DefaultDomain is the domain external apps' hosts are under when Options
// give none.
const DefaultDomain = "example.com"

// NameLabel is the label each app's objects carry and its Service selects.
const NameLabel = "app.kubernetes.io/name"

// Options shape an export.
type Options struct {
	// Namespace is set on every object when not empty.
	Namespace string
	// Domain makes an external app's host <app>.<Domain>.
	Domain string
}

// Group is the objects written to one file.
type Group struct {
	Name    string // an app's name, or "components"
	Objects []any
}

// Manifests are an environment's objects and what the export could not
// carry over.
type Manifests struct {
	Apps       []Group // in the environment file's order
	Components Group
	// Warnings say what was left out or needs the user's attention, one
	// sentence each, naming the app or component.
	Warnings []string
}

// Export builds the manifests of env. It reads only the environment's
// files as loaded: nothing needs to run.
func Export(env *spec.Environment, opts Options) *Manifests {
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	x := &exporter{opts: opts, m: &Manifests{Components: Group{Name: "components"}}}
	for _, a := range env.Apps {
		x.m.Apps = append(x.m.Apps, Group{Name: a.App.Name, Objects: x.app(a)})
	}
	for _, c := range env.Components {
		x.m.Components.Objects = append(x.m.Components.Objects, x.component(c.Component)...)
	}
	x.unexported(env)
	x.collisions()
	return x.m
}

// object is what every exported object is: k8s.io/api's types and the
// local ones alike embed TypeMeta and ObjectMeta.
type object interface {
	GetObjectKind() schema.ObjectKind
	GetName() string
	GetNamespace() string
}

// collisions warns about two objects of one kind and name, such as an
// app's and a component's Secret when they share a name: applied, the
// second replaces the first.
func (x *exporter) collisions() {
	seen := map[string]bool{}
	for _, o := range x.m.All() {
		ob := o.(object)
		kind := ob.GetObjectKind().GroupVersionKind().Kind
		key := kind + "/" + ob.GetNamespace() + "/" + ob.GetName()
		if seen[key] {
			x.warnf("two %s objects are named %s: applied, the second replaces the first; rename the app or component", kind, ob.GetName())
		}
		seen[key] = true
	}
}

// exporter is one export in progress.
type exporter struct {
	opts Options
	m    *Manifests
}

func (x *exporter) warnf(format string, args ...any) {
	x.m.Warnings = append(x.m.Warnings, fmt.Sprintf(format, args...))
}

// meta is an object's metadata: its name, the namespace asked for, and
// the app's label when it belongs to one.
func (x *exporter) meta(name, app string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: x.opts.Namespace}
	if app != "" {
		m.Labels = map[string]string{NameLabel: app}
	}
	return m
}

// unexported warns about the environment's Dapr resources the export
// leaves out.
func (x *exporter) unexported(env *spec.Environment) {
	if n := len(env.Resiliency); n > 0 {
		x.warnf("%d Dapr Resiliency resource(s) are not exported: apply their files as they are", n)
	}
	if n := len(env.Subscriptions); n > 0 {
		x.warnf("%d Dapr Subscription resource(s) are not exported: apply their files as they are", n)
	}
	if env.DaprConfig != nil {
		x.warnf("the environment's Dapr Configuration is not exported: apply its file and name it in each pod's dapr.io/config annotation")
	}
}

// All returns every object, app by app and then the components.
func (m *Manifests) All() []any {
	var all []any
	for _, g := range m.Apps {
		all = append(all, g.Objects...)
	}
	return append(all, m.Components.Objects...)
}

// Marshal writes objects as one multi-document YAML stream.
func Marshal(objs []any) ([]byte, error) {
	var b strings.Builder
	for i, o := range objs {
		doc, err := marshalObject(o)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(doc)
	}
	return []byte(b.String()), nil
}

// marshalObject writes one object without the status the API server owns,
// which k8s.io/api's types always write (as {}).
func marshalObject(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", o, err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("encode %T: %w", o, err)
	}
	delete(m, "status")
	return yaml.Marshal(m)
}

// WriteDir writes one file per app (<app>.yaml) and components.yaml into
// dir, creating it, and returns the files' paths.
func (m *Manifests) WriteDir(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the output directory: %w", err)
	}
	var paths []string
	for _, g := range append(m.Apps, m.Components) {
		if len(g.Objects) == 0 {
			continue
		}
		data, err := Marshal(g.Objects)
		if err != nil {
			return paths, err
		}
		p := filepath.Join(dir, g.Name+".yaml")
		// Readable by the user alone: the files carry the secrets' values.
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return paths, fmt.Errorf("write %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
