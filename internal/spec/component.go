package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ComponentFormat says which file format a component came from.
type ComponentFormat string

const (
	// FormatACA is ACA's component YAML (`az containerapp env dapr-component set --yaml`).
	FormatACA ComponentFormat = "aca"
	// FormatDapr is Dapr's Kubernetes-style resource (apiVersion dapr.io/v1alpha1, kind Component).
	FormatDapr ComponentFormat = "dapr"
)

// ComponentSecret is a secret declared in an ACA component file.
type ComponentSecret = Secret

// Component is a Dapr component in one form, whichever format its file used.
type Component struct {
	// Name is the component's name: from the environment file for the ACA
	// format (ACA passes it on the command line), from metadata.name for
	// Dapr's format.
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
	// Metadata items in file order. Values are strings even when the YAML
	// wrote a number or boolean.
	Metadata []MetadataItem `json:"metadata,omitempty"`
	// Secrets are the ACA format's own secrets, which metadata secretRefs name.
	Secrets      []ComponentSecret `json:"secrets,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	IgnoreErrors bool              `json:"ignoreErrors,omitempty"`
	InitTimeout  string            `json:"initTimeout,omitempty"`
	// SecretStore names the secret store component that secretRefs read
	// from (ACA's secretStoreComponent, Dapr's auth.secretStore).
	SecretStore  string                 `json:"secretStore,omitempty"`
	ServiceBinds []ComponentServiceBind `json:"serviceComponentBind,omitempty"`
	Namespace    string                 `json:"namespace,omitempty"`
	Format       ComponentFormat        `json:"format"`
	// File is the source file as named to the parser.
	File string `json:"file,omitempty"`

	// TypeLine and TypeField locate the type in File, for problems that only
	// the runtime can find (an unregistered type).
	TypeLine  int    `json:"-"`
	TypeField string `json:"-"`
}

// MetadataItem is one component setting. Exactly one of Value, SecretRef and
// EnvRef is meaningful.
type MetadataItem struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	// SecretRef names a secret: one of the component's Secrets or, with a
	// SecretStore, a secret in that store.
	SecretRef string `json:"secretRef,omitempty"`
	// SecretKey is the key within a multi-valued store secret (Dapr's
	// secretKeyRef.key); "" means the secret's own name.
	SecretKey string `json:"secretKey,omitempty"`
	// EnvRef names an environment variable of the cove process that holds
	// the value (Dapr's envRef).
	EnvRef string `json:"envRef,omitempty"`
}

// ComponentServiceBind binds an ACA component to a dev service.
type ComponentServiceBind struct {
	Name      string            `json:"name,omitempty"`
	ServiceID string            `json:"serviceId,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// Kind returns the building block part of the type ("state" for "state.redis").
func (c *Component) Kind() string {
	k, _, _ := strings.Cut(c.Type, ".")
	return k
}

// InScope reports whether the app with the given Dapr app id may load the
// component: every app when Scopes is empty, as in Dapr.
func (c *Component) InScope(appID string) bool {
	return len(c.Scopes) == 0 || slices.Contains(c.Scopes, appID)
}

// componentKinds are Dapr's building block kinds, the first part of a type.
var componentKinds = []string{
	"bindings", "configuration", "conversation", "crypto", "lock", "middleware",
	"nameresolution", "pubsub", "secretstores", "state", "workflowbackend",
}

// acaComponentFile is ACA's component YAML.
type acaComponentFile struct {
	ComponentType        string                `json:"componentType"`
	Version              string                `json:"version"`
	IgnoreErrors         bool                  `json:"ignoreErrors"`
	InitTimeout          string                `json:"initTimeout"`
	Metadata             []acaMetadata         `json:"metadata"`
	Secrets              []Secret              `json:"secrets"`
	SecretStoreComponent string                `json:"secretStoreComponent"`
	Scopes               []string              `json:"scopes"`
	ServiceComponentBind serviceComponentBinds `json:"serviceComponentBind"`
}

type acaMetadata struct {
	Name      string       `json:"name"`
	Value     dynamicValue `json:"value"`
	SecretRef string       `json:"secretRef"`
}

// serviceComponentBinds takes a list of bindings or, as the CLI writes it,
// a single one.
type serviceComponentBinds []ComponentServiceBind

func (s *serviceComponentBinds) unmarshalNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.MappingNode {
		var one ComponentServiceBind
		d.decode(n, path, reflectValue(&one))
		*s = serviceComponentBinds{one}
		return
	}
	var list []ComponentServiceBind
	d.decode(n, path, reflectValue(&list))
	*s = list
}

// daprComponentFile is Dapr's Kubernetes-style component resource.
type daprComponentFile struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   objectMeta        `json:"metadata"`
	Spec       daprComponentSpec `json:"spec"`
	Auth       *daprAuth         `json:"auth"`
	Scopes     []string          `json:"scopes"`
}

// objectMeta is the part of Kubernetes' ObjectMeta that a component file
// (or `kubectl get -o yaml`) carries.
type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	UID               string            `json:"uid"`
	ResourceVersion   string            `json:"resourceVersion"`
	Generation        int64             `json:"generation"`
	CreationTimestamp string            `json:"creationTimestamp"`
	ManagedFields     Ignored           `json:"managedFields"`
	OwnerReferences   Ignored           `json:"ownerReferences"`
	Finalizers        []string          `json:"finalizers"`
}

type daprComponentSpec struct {
	Type         string         `json:"type"`
	Version      string         `json:"version"`
	IgnoreErrors bool           `json:"ignoreErrors"`
	InitTimeout  string         `json:"initTimeout"`
	Metadata     []daprMetadata `json:"metadata"`
}

type daprMetadata struct {
	Name         string        `json:"name"`
	Value        dynamicValue  `json:"value"`
	SecretKeyRef *secretKeyRef `json:"secretKeyRef"`
	EnvRef       string        `json:"envRef"`
}

type secretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type daprAuth struct {
	SecretStore string `json:"secretStore"`
}

// dynamicValue is a metadata value. Dapr takes any YAML value and hands the
// component its text: scalars as written (6379, true), lists and mappings
// as JSON.
type dynamicValue string

func (v *dynamicValue) unmarshalNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		*v = dynamicValue(n.Value)
		return
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.typeErrorf(n, path, "cannot read the value: %v", err)
		return
	}
	b, err := json.Marshal(jsonable(x))
	if err != nil {
		d.typeErrorf(n, path, "the value cannot be written as JSON: %v", err)
		return
	}
	*v = dynamicValue(b)
}

// jsonable converts YAML's map[any]any into map[string]any for JSON.
func jsonable(x any) any {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			t[k] = jsonable(v)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, v := range t {
			m[fmt.Sprint(k)] = jsonable(v)
		}
		return m
	case []any:
		for i, v := range t {
			t[i] = jsonable(v)
		}
		return t
	}
	return x
}

// ParseComponent parses and validates a Dapr component file in ACA's format
// or Dapr's. It returns the component when there are no errors; the
// Problems may then still hold warnings. An ACA-format component has no name
// of its own: the caller sets Name.
func ParseComponent(file string, data []byte) (*Component, Problems) {
	p := parseComponent(file, data, "")
	probs := p.d.probs.sorted()
	if probs.Err() != nil || p.comp == nil {
		return nil, probs
	}
	return p.comp, probs
}

// componentParse is one component file being parsed.
type componentParse struct {
	comp *Component
	d    *decoder
	// scopesPath and secretStorePath locate fields the environment checks.
	scopesPath, secretStorePath, namePath string
}

// parseComponent decodes and validates a component file. name is the name
// the environment file gives it, "" when it gives none.
func parseComponent(file string, data []byte, name string) *componentParse {
	d := newDecoder(file)
	root := d.parse(data)
	if root == nil {
		return &componentParse{d: d}
	}
	return parseComponentNode(d, root, name)
}

// parseComponentNode decodes and validates the component document root
// with d, the document's own decoder.
func parseComponentNode(d *decoder, root *yaml.Node, name string) *componentParse {
	p := &componentParse{d: d}
	file := d.file
	if root.Kind == yaml.MappingNode && (hasKey(root, "apiVersion") || hasKey(root, "kind") || hasKey(root, "spec")) {
		p.dapr(root, name)
	} else {
		p.aca(root, name)
	}
	if p.comp != nil {
		p.comp.File = file
		p.comp.TypeLine = p.d.lookup(p.comp.TypeField).line
		p.validate()
	}
	return p
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (p *componentParse) aca(root *yaml.Node, name string) {
	d := p.d
	var f acaComponentFile
	d.decodeDocument(root, &f)
	c := &Component{
		Name: name, Type: f.ComponentType, Version: f.Version, Secrets: f.Secrets, Scopes: f.Scopes,
		IgnoreErrors: f.IgnoreErrors, InitTimeout: f.InitTimeout, SecretStore: f.SecretStoreComponent,
		ServiceBinds: f.ServiceComponentBind, Format: FormatACA, TypeField: "componentType",
	}
	p.scopesPath, p.secretStorePath = "scopes", "secretStoreComponent"
	d.requiredString("componentType", c.Type, "the Dapr component type, e.g. state.redis")
	d.requiredString("version", c.Version, "the component version, usually v1")
	secrets := map[string]bool{}
	names := d.uniqueNames("secret")
	for i := range c.Secrets {
		sp := indexPath("secrets", i)
		s := &c.Secrets[i]
		if !d.requiredString(sp+".name", s.Name, "the secret's name") {
			continue
		}
		names.add(sp+".name", s.Name)
		secrets[s.Name] = true
		switch {
		case d.has(sp+".value") && d.has(sp+".keyVaultUrl"):
			d.errorf(sp, "set either value or keyVaultUrl, not both")
		case s.KeyVaultURL != "":
			d.warnf(sp+".keyVaultUrl", "cove cannot read Azure Key Vault, so this secret has no value locally; "+
				"use secretStoreComponent with a local secret store, or give the secret a value")
		case !d.has(sp + ".value"):
			d.errorf(sp, "required: value, or keyVaultUrl")
		}
	}
	for i, m := range f.Metadata {
		mp := indexPath("metadata", i)
		item := MetadataItem{Name: m.Name, Value: string(m.Value), SecretRef: m.SecretRef}
		c.Metadata = append(c.Metadata, item)
		hasValue, hasRef := d.has(mp+".value"), d.has(mp+".secretRef")
		switch {
		case hasValue && hasRef:
			d.errorf(mp, "set either value or secretRef, not both")
		case !hasValue && !hasRef:
			d.errorf(mp, "required: value, or secretRef naming one of the component's secrets")
		case hasRef && m.SecretRef == "":
			d.errorf(mp+".secretRef", "required: the name of the secret holding the value")
		case hasRef && c.SecretStore == "" && !secrets[m.SecretRef]:
			msg := fmt.Sprintf("secret %q is not declared in secrets (and no secretStoreComponent is set)", m.SecretRef)
			if s := suggest(m.SecretRef, slices.Collect(maps.Keys(secrets))); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(mp+".secretRef", "%s", msg)
		}
	}
	for i, b := range c.ServiceBinds {
		bp := indexPath("serviceComponentBind", i)
		if !d.has(bp) { // written as a single mapping
			bp = "serviceComponentBind"
		}
		d.requiredString(bp+".serviceId", b.ServiceID, "the resource ID of the dev service")
	}
	p.comp = c
}

func (p *componentParse) dapr(root *yaml.Node, name string) {
	d := p.d
	var f daprComponentFile
	d.decodeDocument(root, &f)
	if f.APIVersion != "dapr.io/v1alpha1" {
		if d.requiredString("apiVersion", f.APIVersion, "dapr.io/v1alpha1") {
			d.errorf("apiVersion", "%q is not dapr.io/v1alpha1", f.APIVersion)
		}
	}
	if f.Kind != "Component" {
		if d.requiredString("kind", f.Kind, "Component") {
			d.errorf("kind", "this file holds a Dapr %s, not a Component", f.Kind)
		}
	}
	c := &Component{
		Name: f.Metadata.Name, Type: f.Spec.Type, Version: f.Spec.Version, Scopes: f.Scopes,
		IgnoreErrors: f.Spec.IgnoreErrors, InitTimeout: f.Spec.InitTimeout, Namespace: f.Metadata.Namespace,
		Format: FormatDapr, TypeField: "spec.type",
	}
	p.scopesPath, p.secretStorePath, p.namePath = "scopes", "auth.secretStore", "metadata.name"
	if f.Auth != nil {
		c.SecretStore = f.Auth.SecretStore
	}
	switch {
	case c.Name == "" && name == "":
		d.errorf("metadata.name", "required: the component's name")
	case c.Name == "":
		c.Name = name
	case name != "" && c.Name != name:
		d.errorf("metadata.name", "%q does not match the name %q the environment file gives this component; make them the same", c.Name, name)
	}
	d.requiredString("spec.type", c.Type, "the Dapr component type, e.g. state.redis")
	d.requiredString("spec.version", c.Version, "the component version, usually v1")
	for i, m := range f.Spec.Metadata {
		mp := indexPath("spec.metadata", i)
		item := MetadataItem{Name: m.Name, Value: string(m.Value), EnvRef: m.EnvRef}
		set := 0
		for _, k := range []string{".value", ".secretKeyRef", ".envRef"} {
			if d.has(mp + k) {
				set++
			}
		}
		if set != 1 {
			d.errorf(mp, "set exactly one of value, secretKeyRef and envRef")
		}
		if r := m.SecretKeyRef; r != nil {
			item.SecretRef, item.SecretKey = r.Name, r.Key
			d.requiredString(mp+".secretKeyRef.name", r.Name, "the secret's name in the secret store")
			if c.SecretStore == "" {
				d.errorf(mp+".secretKeyRef", "secretKeyRef needs auth.secretStore naming the secret store component to read it from")
			}
		}
		c.Metadata = append(c.Metadata, item)
	}
	p.comp = c
}

// check reports why the component cannot run, when check says so and the
// parse found nothing wrong with its type already (see
// Options.CheckComponent).
func (p *componentParse) check(check func(*Component) error) {
	c := p.comp
	if check == nil || c.Type == "" || slices.ContainsFunc(p.d.probs, func(pr Problem) bool { return pr.Path == c.TypeField }) {
		return
	}
	err := check(c)
	at := c.TypeField
	var me *MetadataError
	if errors.As(err, &me) {
		if i := slices.IndexFunc(c.Metadata, func(m MetadataItem) bool { return m.Name == me.Item }); i >= 0 {
			at = indexPath(metadataPath(c), i) + ".value"
			err = me.Err
		}
	}
	switch {
	case err == nil:
	case c.IgnoreErrors:
		p.d.warnf(at, "%v; it is skipped, as ignoreErrors is true", err)
	default:
		p.d.errorf(at, "%v", err)
	}
}

// validate checks what both formats share.
func (p *componentParse) validate() {
	c, d := p.comp, p.d
	if c.Name != "" && !componentRE.MatchString(c.Name) && p.namePath != "" {
		d.errorf(p.namePath, "%q is not a valid component name: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit", c.Name)
	}
	if c.Type != "" {
		kind, rest, ok := strings.Cut(c.Type, ".")
		switch {
		case !ok || rest == "":
			d.errorf(c.TypeField, "%q is not a component type; types are <kind>.<name>, e.g. state.redis", c.Type)
		case !slices.Contains(componentKinds, kind):
			msg := fmt.Sprintf("%q is not a Dapr component kind (%s)", kind, strings.Join(componentKinds, ", "))
			if s := suggest(kind, componentKinds); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(c.TypeField, "%s", msg)
		}
	}
	versionPath := "version"
	timeoutPath := "initTimeout"
	if c.Format == FormatDapr {
		versionPath, timeoutPath = "spec.version", "spec.initTimeout"
	}
	metaPath := metadataPath(c)
	if c.Version != "" && !strings.HasPrefix(c.Version, "v") {
		d.errorf(versionPath, "%q is not a component version; versions look like v1 or v2", c.Version)
	}
	if c.InitTimeout != "" {
		if t, err := time.ParseDuration(c.InitTimeout); err != nil || t <= 0 {
			d.errorf(timeoutPath, "%q is not a duration; write it like 5s or 1m", c.InitTimeout)
		}
	}
	names := d.uniqueNames("metadata")
	for i, m := range c.Metadata {
		mp := indexPath(metaPath, i)
		if d.requiredString(mp+".name", m.Name, "the setting's name, e.g. redisHost") {
			names.add(mp+".name", m.Name)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Scopes {
		sp := indexPath(p.scopesPath, i)
		switch {
		case s == "":
			d.errorf(sp, "required: a Dapr app id")
		case seen[s]:
			d.warnf(sp, "app id %q is listed twice", s)
		}
		seen[s] = true
	}
}

// metadataPath is the path of c's metadata list in its file.
func metadataPath(c *Component) string {
	if c.Format == FormatDapr {
		return "spec.metadata"
	}
	return "metadata"
}

// MetadataError is a CheckComponent error about the value of one metadata
// item, reported at that item.
type MetadataError struct {
	Item string
	Err  error
}

func (e *MetadataError) Error() string { return e.Item + ": " + e.Err.Error() }

func (e *MetadataError) Unwrap() error { return e.Err }
