package spec

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Resources are the Dapr resources of one file, in document order.
type Resources struct {
	Components     []*Component
	Resiliency     []*Resiliency
	Configurations []*DaprConfiguration
	Subscriptions  []*Subscription
}

// resourceKinds are the kinds of Dapr resource files, as daprd reads them
// from its resources paths (Configuration from --config).
var resourceKinds = []string{"Component", "Resiliency", "Configuration", "Subscription", "HTTPEndpoint"}

// ParseResources parses every document of a Dapr resource file
// ("---"-separated), each by its kind, with the same parsers cove.yaml's
// files go through: a Component in Dapr's format or ACA's (an ACA
// component is named after its file, as `az containerapp env
// dapr-component set --name` names it after its argument), a Resiliency, a
// Configuration, a Subscription. HTTPEndpoint documents are reported as
// not supported yet (warnings) and left out. opts.CheckComponent checks
// each component in the same pass. It returns the documents that parsed
// without errors, so a caller can check them against others too, and
// every problem with file and line.
func ParseResources(file string, data []byte, opts Options) (*Resources, Problems) {
	d0 := newDecoder(file)
	roots := d0.parseAll(data)
	out := &Resources{}
	all := d0.probs
	for _, root := range roots {
		d := newDecoder(file)
		d.pos[""] = nodePos(root)
		doc := &Resources{}
		doc.add(d, root, opts)
		all = append(all, d.probs...)
		if d.probs.Err() == nil {
			out.Components = append(out.Components, doc.Components...)
			out.Resiliency = append(out.Resiliency, doc.Resiliency...)
			out.Configurations = append(out.Configurations, doc.Configurations...)
			out.Subscriptions = append(out.Subscriptions, doc.Subscriptions...)
		}
	}
	return out, all.sorted()
}

// add parses one document into r.
func (r *Resources) add(d *decoder, root *yaml.Node, opts Options) {
	apiVersion, kind := scalarValue(root, "apiVersion"), scalarValue(root, "kind")
	dapr := strings.HasPrefix(apiVersion, "dapr.io/")
	switch {
	case kind == "Resiliency" && dapr:
		if p := parseResiliencyNode(d, root); p.res != nil {
			r.Resiliency = append(r.Resiliency, p.res)
		}
	case kind == "Configuration" && dapr:
		if c := parseConfigurationNode(d, root); c != nil {
			r.Configurations = append(r.Configurations, c)
		}
	case kind == "Subscription" && dapr:
		if s := parseSubscriptionNode(d, root); s != nil {
			r.Subscriptions = append(r.Subscriptions, s)
		}
	case kind == "HTTPEndpoint" && dapr:
		d.warnf("kind", "Dapr %s resources are not supported yet by cove; this one is skipped", kind)
	case dapr && kind != "" && kind != "Component":
		msg := fmt.Sprintf("%q is not a Dapr resource kind cove reads (%s); this document is skipped", kind, strings.Join(resourceKinds, ", "))
		if s := suggest(kind, resourceKinds); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		d.warnf("kind", "%s", msg)
	default:
		r.component(d, root, opts)
	}
}

// component parses a component document in either format.
func (r *Resources) component(d *decoder, root *yaml.Node, opts Options) {
	p := parseComponentNode(d, root, "")
	if p.comp == nil {
		return
	}
	if p.comp.Format == FormatACA {
		base := filepath.Base(d.file)
		p.comp.Name = strings.TrimSuffix(base, filepath.Ext(base))
		if !componentRE.MatchString(p.comp.Name) {
			d.errorf("", "an ACA component is named after its file, and %q is not a component name: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit", p.comp.Name)
			return
		}
	}
	p.check(opts.CheckComponent)
	r.Components = append(r.Components, p.comp)
}

// scalarValue is the value of key in mapping m when it is a scalar, else "".
func scalarValue(m *yaml.Node, key string) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}
