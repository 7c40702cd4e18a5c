package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/spec"
)

// Writes through the ARM-shaped API change the app's own file, the record
// of what the environment runs, then apply it as `cove reload` does:
//
//	PATCH {prefix}/containerApps/{app}   a JSON merge patch (RFC 7386) of the app
//
// The patch is merged into the file's YAML (its comments and key order
// kept where the patch leaves them), the result validated as an app file,
// written beside the old one and renamed over it (a crash leaves one or
// the other), then the environment reloaded. A result that does not
// validate, alone or with the rest of the environment, or whose new
// revision does not get ready, puts the old file back and changes
// nothing, and so does one that only a restart would apply (Dapr
// settings, ingress enabled or disabled). Each app's ETag is a hash of its file: If-Match with another
// is 412, so a writer that read a stale app loses nothing of another's.

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
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
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
	// One write at a time: each reads the file the one before wrote.
	var mu sync.Mutex
	mux.HandleFunc("PATCH "+prefix+"/containerApps/{app}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		out, errd := patchApp(m, r)
		if errd != nil {
			writeARMError(w, errd)
			return
		}
		w.Header().Set("ETag", out.etag)
		writeJSON(w, http.StatusOK, out.v)
	})
}

// patchApp is PATCH …/containerApps/{app}.
func patchApp(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	name := r.PathValue("app")
	es := m.Spec()
	i := slices.IndexFunc(es.Apps, func(as AppSpec) bool { return as.App.Name == name })
	if i < 0 {
		return nil, notFound("Microsoft.App/containerApps", name, "`cove containerapp list` lists them")
	}
	as := es.Apps[i]
	data, err := os.ReadFile(as.Path)
	if err != nil {
		return nil, internalError(err)
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" && im != etagOf(data) {
		return nil, &ARMErrorDetail{Code: "PreconditionFailed", Message: fmt.Sprintf(
			"app %s changed since it was read (ETag %s, now %s); nothing was changed: read it again and retry", name, im, etagOf(data))}
	}
	patch, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "reading the request body: %v", err)
	}
	var check struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(patch, &check); err != nil {
		return nil, badRequest("InvalidRequestContent", "the request body is not a JSON object: %v", err)
	}
	if check.Name != nil && *check.Name != name {
		return nil, badRequest("InvalidRequestContent", "the name of app %s cannot change (the patch names %q)", name, *check.Name)
	}
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
		why := appNeedsRestart(&spec.AppEntry{App: curApp}, &spec.AppEntry{App: nextApp})
		if w := ingressNeedsRestart(curApp.Properties.Configuration.Ingress, nextApp.Properties.Configuration.Ingress); w != "" {
			why = append(why, fmt.Sprintf("app %s: %s", name, w))
		}
		if len(why) > 0 {
			return nil, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
				"only a restart of the environment applies this update (%s); nothing was changed: edit %s and restart `cove up`",
				strings.Join(why, "; "), as.File)}
		}
	}
	info, err := os.Stat(as.Path)
	if err != nil {
		return nil, internalError(err)
	}
	// restore puts the old file back; it says so if it cannot.
	restore := func() string {
		if err := security.WriteAtomic(as.Path, data, info.Mode().Perm()); err != nil {
			return fmt.Sprintf(" (putting %s back failed: %v; it holds the update)", as.File, err)
		}
		return ""
	}
	if err := security.WriteAtomic(as.Path, next, info.Mode().Perm()); err != nil {
		return nil, internalError(err)
	}
	// The reload finishes even if the caller goes: file and state agree.
	res, err := m.Reload(context.WithoutCancel(r.Context()))
	switch {
	case errors.As(err, &probs):
		return nil, badRequest("ContainerAppInvalidProperties", "the update makes the environment invalid; nothing was changed%s:\n%s", restore(), probs.Error())
	case err != nil:
		return nil, internalError(fmt.Errorf("%w%s", err, restore()))
	case len(res.Errors) > 0:
		return nil, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
			"app %s was not updated: %s; it runs as before%s", name, strings.Join(res.Errors, "; "), restore())}
	}
	v := &armView{spec: m.Spec(), status: m.Status(r.Context())}
	i = slices.IndexFunc(v.spec.Apps, func(as AppSpec) bool { return as.App.Name == name })
	if i < 0 {
		return nil, internalError(fmt.Errorf("app %s is gone after the reload", name))
	}
	app, err := v.app(v.spec.Apps[i])
	if err != nil {
		return nil, internalError(err)
	}
	return &withETag{v: app, etag: etagOf(next)}, nil
}

func badRequest(code, format string, args ...any) *ARMErrorDetail {
	return &ARMErrorDetail{Code: code, Message: fmt.Sprintf(format, args...)}
}
