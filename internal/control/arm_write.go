package control

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/cove-env/cove/internal/spec"
)

// Writes through the ARM-shaped API change the app's own file (and the
// environment file's lists), the record of what the environment runs,
// then apply it as `cove reload` does:
//
//	PATCH  {prefix}/containerApps/{app}   a JSON merge patch (RFC 7386) of the app
//	PUT    {prefix}/containerApps/{app}   a new app, <app>.yaml beside the environment file
//	DELETE {prefix}/containerApps/{app}   out of the environment file; <file>.deleted kept
//	PUT    {prefix}/managedEnvironments/{env}/daprComponents/{name}, DELETE the same
//
// The patch is merged into the file's YAML (its comments and key order
// kept where the patch leaves them), the result validated as an app file,
// written beside the old one and renamed over it (a crash leaves one or
// the other), then the environment reloaded. A result that does not
// validate, alone or with the rest of the environment, or whose new
// revision does not get ready, puts the old files back and changes
// nothing, and so does one that only a restart would apply (service,
// identitySettings, runtime). Each app's ETag is a hash of its file:
// If-Match with another is 412, so a writer that read a stale app loses
// nothing of another's.

// etagOf is the ETag of an app file's content.
func etagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// withETag is a response with an ETag header.
type withETag struct {
	v    any
	etag string
}

// readOnlyProperties are the app properties ACA reports and never takes:
// a patch made from a shown app drops them rather than write them.
var readOnlyProperties = []string{
	"provisioningState", "runningStatus", "latestRevisionName", "latestReadyRevisionName", "latestRevisionFqdn",
	"customDomainVerificationId", "outboundIpAddresses", "eventStreamEndpoint",
}

// patchYAML merges patch, a JSON merge patch, into the app file data and
// returns the new file. The patch is read as YAML nodes, so that the keys
// it adds keep its order.
func patchYAML(data, patch []byte) ([]byte, error) {
	doc, err := yamlMapping(data)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	pdoc, err := yamlMapping(patch)
	if err != nil {
		return nil, fmt.Errorf("the patch: %w", err)
	}
	p := pdoc.Content[0]
	plainStyle(p)
	if props := mapValue(p, "properties"); props != nil && props.Kind == yaml.MappingNode {
		for _, k := range readOnlyProperties {
			deleteKey(props, k)
		}
		if in := mapValue(mapValue(props, "configuration"), "ingress"); in != nil {
			deleteKey(in, "fqdn")
		}
		// The file may hold configuration and template at its top level,
		// as az's YAML allows: the patch goes where they are.
		for _, k := range []string{"configuration", "template"} {
			if v := mapValue(props, k); v != nil && mapValue(root, k) != nil {
				deleteKey(props, k)
				p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
			}
		}
		if len(props.Content) == 0 {
			deleteKey(p, "properties")
		}
	}
	mergeYAML(root, p)
	return encodeYAML(doc)
}

// yamlMapping parses a YAML (or JSON) document whose root is a mapping.
func yamlMapping(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping")
	}
	return &doc, nil
}

// plainStyle drops the flow and quoting styles JSON gave the nodes, so
// that they are written as block YAML; the encoder still quotes strings
// that need it.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// keyIndex is the index of key's key node in mapping m, or -1.
func keyIndex(m *yaml.Node, key string) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// mapValue is the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if i := keyIndex(m, key); i >= 0 {
		return m.Content[i+1]
	}
	return nil
}

func deleteKey(m *yaml.Node, key string) {
	if i := keyIndex(m, key); i >= 0 {
		m.Content = slices.Delete(m.Content, i, i+2)
	}
}

// mergeYAML merges the JSON merge patch p into mapping m: mappings merge
// key by key, null removes a key, anything else replaces the value.
func mergeYAML(m, p *yaml.Node) {
	for j := 0; j+1 < len(p.Content); j += 2 {
		k, v := p.Content[j].Value, p.Content[j+1]
		i := keyIndex(m, k)
		switch {
		case v.Tag == "!!null":
			deleteKey(m, k)
		case v.Kind == yaml.MappingNode && i >= 0 && m.Content[i+1].Kind == yaml.MappingNode:
			mergeYAML(m.Content[i+1], v)
		case i >= 0:
			m.Content[i+1] = v
		default:
			m.Content = append(m.Content, p.Content[j], v)
		}
	}
}

// armWrites adds the ARM-shaped write routes to mux.
func armWrites(mux *http.ServeMux, m managed, prefix string) {
	// One write at a time: each reads the files the one before wrote.
	var mu sync.Mutex
	write := func(pattern string, serve func(m managed, r *http.Request) (*withETag, *ARMErrorDetail)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			out, errd := serve(m, r)
			switch {
			case errd != nil:
				writeARMError(w, errd)
			case out == nil:
				w.WriteHeader(http.StatusNoContent)
			default:
				if out.etag != "" {
					w.Header().Set("ETag", out.etag)
				}
				writeJSON(w, http.StatusOK, out.v)
			}
		})
	}
	write("PATCH "+prefix+"/containerApps/{app}", patchApp)
	write("PUT "+prefix+"/containerApps/{app}", createApp)
	write("DELETE "+prefix+"/containerApps/{app}", deleteApp)
	write("POST "+prefix+"/containerApps/{app}/listSecrets", listSecrets)
	write("POST "+prefix+"/containerApps/{app}/revisions/{rev}/{op}", revisionOp)
	write("PUT "+prefix+"/managedEnvironments/{env}/daprComponents/{name}", setComponent)
	write("DELETE "+prefix+"/managedEnvironments/{env}/daprComponents/{name}", removeComponent)
}

// componentEntry finds the environment file's entry of the component the
// request names: the file's document, its components and the entry's
// index there (-1 when it has none).
func componentEntry(m managed, r *http.Request) (EnvSpec, *yaml.Node, *yaml.Node, int, *ARMErrorDetail) {
	es := m.Spec()
	if env := r.PathValue("env"); env != es.Name {
		return es, nil, nil, 0, notFound("Microsoft.App/managedEnvironments", env, "`cove env show` names this one")
	}
	doc, err := readEnvFile(es.File)
	if err != nil {
		return es, nil, nil, 0, internalError(err)
	}
	list := envFileList(doc, "components")
	return es, doc, list, entryIndex(list, "", "", r.PathValue("name")), nil
}

// setComponent is PUT …/daprComponents/{name}: the component's properties,
// ACA's component schema, written as its file (the one the environment
// file names, else <name>.component.yaml beside it, added to its
// components) and applied: the apps in its scopes are built anew over it.
func setComponent(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	name := r.PathValue("name")
	es, doc, list, i, errd := componentEntry(m, r)
	if errd != nil {
		return nil, errd
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "reading the request body: %v", err)
	}
	bdoc, err := yamlMapping(body)
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "the request body: %v", err)
	}
	props := mapValue(bdoc.Content[0], "properties")
	if props == nil || props.Kind != yaml.MappingNode {
		return nil, badRequest("InvalidRequestContent", "component %s: the body has no properties (componentType, version, metadata, scopes)", name)
	}
	plainStyle(props)
	data, err := encodeYAML(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{props}})
	if err != nil {
		return nil, internalError(err)
	}
	dir := filepath.Dir(es.File)
	file := name + ".component.yaml"
	if i >= 0 {
		file = mapValue(list.Content[i], "file").Value
	} else {
		list.Content = append(list.Content, mappingOf("name", name, "file", file))
	}
	path := resolveIn(dir, file)
	if _, probs := spec.ParseComponent(file, data); probs.Err() != nil {
		return nil, badRequest("InvalidRequestContent", "component %s is invalid; nothing was changed:\n%s", name, probs.Err())
	}
	writes := []fileWrite{{path, data}}
	if i < 0 {
		envData, err := encodeYAML(doc)
		if err != nil {
			return nil, internalError(err)
		}
		writes = append(writes, fileWrite{es.File, envData})
	}
	if _, errd := applyWrite(r.Context(), m, fmt.Sprintf("component %s was not set", name), writes); errd != nil {
		return nil, errd
	}
	v := &armView{spec: m.Spec()}
	for _, c := range v.spec.Components {
		if c.Name == name {
			return &withETag{v: v.component(c)}, nil
		}
	}
	return nil, internalError(fmt.Errorf("component %s did not load", name))
}

// removeComponent is DELETE …/daprComponents/{name}: the component leaves
// the environment file's components, the apps in its scopes are built
// anew without it, and it closes. Its file is kept, renamed to
// <file>.deleted.
func removeComponent(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	name := r.PathValue("name")
	es, doc, list, i, errd := componentEntry(m, r)
	if errd != nil {
		return nil, errd
	}
	if i < 0 {
		return nil, notFound("Microsoft.App/managedEnvironments/daprComponents", name, "`cove env dapr-component list` lists them")
	}
	file := mapValue(list.Content[i], "file").Value
	list.Content = slices.Delete(list.Content, i, i+1)
	envData, err := encodeYAML(doc)
	if err != nil {
		return nil, internalError(err)
	}
	if _, errd := applyWrite(r.Context(), m, fmt.Sprintf("component %s was not removed", name), []fileWrite{{es.File, envData}}); errd != nil {
		return nil, errd
	}
	keepDeleted(resolveIn(filepath.Dir(es.File), file), "component", name)
	return nil, nil
}

// keepDeleted renames the file of a deleted resource to <file>.deleted.
func keepDeleted(path, kind, name string) {
	if err := os.Rename(path, path+".deleted"); err != nil {
		slog.Warn("keeping the file of a deleted "+kind, kind, name, "file", path, "err", err)
	}
}

// findApp is the app named by the request's path, or a not-found error.
func findApp(m managed, r *http.Request) (AppSpec, *ARMErrorDetail) {
	name := r.PathValue("app")
	es := m.Spec()
	i := slices.IndexFunc(es.Apps, func(as AppSpec) bool { return as.App.Name == name })
	if i < 0 {
		return AppSpec{}, notFound("Microsoft.App/containerApps", name, "`cove containerapp list` lists them")
	}
	return es.Apps[i], nil
}

// patchApp is PATCH …/containerApps/{app}.
func patchApp(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	as, errd := findApp(m, r)
	if errd != nil {
		return nil, errd
	}
	name := as.App.Name
	data, err := os.ReadFile(as.Path)
	if err != nil {
		return nil, internalError(err)
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && im != etagOf(data) {
		return nil, &ARMErrorDetail{Code: "PreconditionFailed", Message: fmt.Sprintf(
			"app %s changed since it was read (ETag %s, now %s); nothing was changed: read it again and retry", name, im, etagOf(data))}
	}
	patch, errd := readBody(r, name)
	if errd != nil {
		return nil, errd
	}
	return applyPatch(m, r, as, data, patch)
}

// applyPatch merges patch, a JSON merge patch, into the app file data of
// as, and writes and applies the result as a reload.
func applyPatch(m managed, r *http.Request, as AppSpec, data, patch []byte) (*withETag, *ARMErrorDetail) {
	name := as.App.Name
	next, err := patchYAML(data, patch)
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "%s: %v", as.File, err)
	}
	nextApp, probs := spec.ParseContainerApp(as.File, next)
	if probs.Err() != nil {
		return nil, badRequest("ContainerAppInvalidProperties", "the update makes app %s invalid; nothing was changed:\n%s", name, probs.Err())
	}
	// What a reload cannot apply is refused, not written: the file would
	// say what does not run.
	if curApp, probs := spec.ParseContainerApp(as.File, data); probs.Err() == nil {
		if why := appNeedsRestart(&spec.AppEntry{App: curApp}, &spec.AppEntry{App: nextApp}); len(why) > 0 {
			return nil, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
				"only a restart of the environment applies this update (%s); nothing was changed: edit %s and restart `cove up`",
				strings.Join(why, "; "), as.File)}
		}
	}
	if _, errd := applyWrite(r.Context(), m, fmt.Sprintf("app %s was not updated", name), []fileWrite{{as.Path, next}}); errd != nil {
		return nil, errd
	}
	return appAfter(m, r, name, next)
}

// readBody reads a write's JSON object, whose name, if it has one, must be
// the app's.
func readBody(r *http.Request, name string) ([]byte, *ARMErrorDetail) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "reading the request body: %v", err)
	}
	var check struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(body, &check); err != nil {
		return nil, badRequest("InvalidRequestContent", "the request body is not a JSON object: %v", err)
	}
	if check.Name != nil && *check.Name != name {
		return nil, badRequest("InvalidRequestContent", "the name of app %s cannot change (the body names %q)", name, *check.Name)
	}
	return body, nil
}

// appAfter is the app as a write left it, with its file's ETag.
func appAfter(m managed, r *http.Request, name string, file []byte) (*withETag, *ARMErrorDetail) {
	v := &armView{spec: m.Spec(), status: m.Status(r.Context())}
	i := slices.IndexFunc(v.spec.Apps, func(as AppSpec) bool { return as.App.Name == name })
	if i < 0 {
		return nil, internalError(fmt.Errorf("app %s is not running after the reload (does `cove up` run only some apps?)", name))
	}
	app, err := v.app(v.spec.Apps[i])
	if err != nil {
		return nil, internalError(err)
	}
	return &withETag{v: app, etag: etagOf(file)}, nil
}

// CreateLocal is how a created app runs locally: what the environment
// file's entry for it says beside its file (see docs/environment.md). It
// travels in the PUT body as "local", a cove extension ARM does not have;
// without a command the app runs its images.
type CreateLocal struct {
	Command string            `json:"command,omitempty"`
	Build   string            `json:"build,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// createFields are the fields of an app resource that the created file
// leaves out: ARM's ids and where it lives, which cove fixes.
var createFields = []string{"id", "resourceGroup", "location", "systemData", "managedEnvironmentId", "environmentId"}

// createApp is PUT …/containerApps/{app}: a new app, written as its own
// file beside the environment file (<app>.yaml) and added to the file's
// apps, then started as a reload starts an added app. An app of that name
// is a conflict: PATCH changes it.
func createApp(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	name := r.PathValue("app")
	es := m.Spec()
	if slices.ContainsFunc(es.Apps, func(as AppSpec) bool { return as.App.Name == name }) {
		return nil, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
			"app %s exists; change it with `cove containerapp update -n %s`, or delete it first", name, name)}
	}
	if msg := spec.AppNameProblem(name); msg != "" {
		return nil, badRequest("InvalidRequestContent", "app name %q: %s", name, msg)
	}
	body, errd := readBody(r, name)
	if errd != nil {
		return nil, errd
	}
	var req struct {
		Local CreateLocal `json:"local"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequest("InvalidRequestContent", "local: %v", err)
	}
	dir := filepath.Dir(es.File)
	file := name + ".yaml"
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err == nil {
		return nil, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
			"app %s: %s exists beside %s, which does not list it; add it to the apps there, or move the file away", name, file, filepath.Base(es.File))}
	}
	data, err := newAppFile(name, body)
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "%v", err)
	}
	if _, probs := spec.ParseContainerApp(file, data); probs.Err() != nil {
		return nil, badRequest("ContainerAppInvalidProperties", "app %s is invalid; nothing was created:\n%s", name, probs.Err())
	}
	doc, err := readEnvFile(es.File)
	if err != nil {
		return nil, internalError(err)
	}
	entry := mappingOf("file", file, "build", req.Local.Build, "command", req.Local.Command, "dir", req.Local.Dir)
	if len(req.Local.Env) > 0 {
		env := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range slices.Sorted(maps.Keys(req.Local.Env)) {
			env.Content = append(env.Content, scalar(k), scalar(req.Local.Env[k]))
		}
		entry.Content = append(entry.Content, scalar("env"), env)
	}
	list := envFileList(doc, "apps")
	list.Content = append(list.Content, entry)
	envData, err := encodeYAML(doc)
	if err != nil {
		return nil, internalError(err)
	}
	what := fmt.Sprintf("app %s was not created", name)
	if _, errd := applyWrite(r.Context(), m, what, []fileWrite{{path, data}, {es.File, envData}}); errd != nil {
		return nil, errd
	}
	return appAfter(m, r, name, data)
}

// newAppFile is the YAML file of an app created from an ARM resource body:
// its fields in the body's order, without the read-only ones, the ids and
// cove's local settings.
func newAppFile(name string, body []byte) ([]byte, error) {
	pdoc, err := yamlMapping(body)
	if err != nil {
		return nil, err
	}
	p := pdoc.Content[0]
	deleteKey(p, "local")
	deleteKey(p, "name")
	for _, k := range createFields {
		deleteKey(p, k)
		deleteKey(mapValue(p, "properties"), k)
	}
	out, err := encodeYAML(pdoc)
	if err != nil {
		return nil, err
	}
	return patchYAML([]byte("name: "+name+"\n"), out)
}

// deleteApp is DELETE …/containerApps/{app}: the app leaves the
// environment file's apps and stops. Its file is kept, renamed to
// <file>.deleted (replacing an older one), so it can be listed again.
func deleteApp(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	as, errd := findApp(m, r)
	if errd != nil {
		return nil, errd
	}
	es := m.Spec()
	if len(es.Apps) == 1 {
		return nil, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
			"app %s is the environment's last app, and an environment has at least one; stop it with `cove down`", as.App.Name)}
	}
	doc, err := readEnvFile(es.File)
	if err != nil {
		return nil, internalError(err)
	}
	list := envFileList(doc, "apps")
	i := entryIndex(list, filepath.Dir(es.File), as.Path, as.App.Name)
	if i < 0 {
		return nil, internalError(fmt.Errorf("%s lists no entry for app %s (%s)", filepath.Base(es.File), as.App.Name, as.File))
	}
	list.Content = slices.Delete(list.Content, i, i+1)
	envData, err := encodeYAML(doc)
	if err != nil {
		return nil, internalError(err)
	}
	if _, errd := applyWrite(r.Context(), m, fmt.Sprintf("app %s was not deleted", as.App.Name), []fileWrite{{es.File, envData}}); errd != nil {
		return nil, errd
	}
	keepDeleted(as.Path, "app", as.App.Name)
	return nil, nil
}

// listSecrets is POST …/containerApps/{app}/listSecrets: the app's
// secrets with their values, as ARM's listSecrets answers.
func listSecrets(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	as, errd := findApp(m, r)
	if errd != nil {
		return nil, errd
	}
	out := ARMList[spec.Secret]{Value: []spec.Secret{}}
	out.Value = append(out.Value, as.App.Properties.Configuration.Secrets...)
	return &withETag{v: out}, nil
}

func badRequest(code, format string, args ...any) *ARMErrorDetail {
	return &ARMErrorDetail{Code: code, Message: fmt.Sprintf(format, args...)}
}
