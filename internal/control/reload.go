package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
)

// ReloadResult reports what a reload of the environment file did.
type ReloadResult struct {
	// Applied are the apps whose new ingress settings now serve.
	Applied []string `json:"applied,omitempty"`
	// NeedsRestart describes the changes a reload cannot apply; they take
	// effect at the next `cove up`.
	NeedsRestart []string `json:"needsRestart,omitempty"`
	// Errors are changes that were accepted but failed to take effect,
	// such as a TCP port another process holds.
	Errors []string `json:"errors,omitempty"`
}

// Reload re-reads and validates the environment file and applies what can
// change while replicas run: each app's ingress (external, transport and
// ports the replicas already have, IP rules, CORS, sticky sessions, client
// certificates, custom domains) and the custom domains' certificates. A
// new routing table is swapped in, so requests in flight finish where they
// started; TCP listeners are opened and closed to match. Everything else
// is reported in NeedsRestart. An invalid file changes nothing and is
// returned as spec.Problems.
func (e *Env) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	next, err := Load(e.spec.File)
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if e.applied == nil {
		e.applied = ingressByApp(e.spec)
	}

	res.NeedsRestart = environmentChanges(e.spec, next)
	nextApps := map[string]*spec.AppEntry{}
	for _, entry := range next.Apps {
		nextApps[entry.App.Name] = entry
	}
	changed := map[string]*routing.Ingress{}
	e.mu.Lock()
	apps := slices.Clone(e.apps)
	e.mu.Unlock()
	running := map[string]bool{}
	for _, a := range apps {
		running[a.name] = true
		entry, ok := nextApps[a.name]
		if !ok {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("app %s was removed", a.name))
			continue
		}
		if appChanged(a.entry, entry) {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("app %s: its template, Dapr settings, command or local settings changed", a.name))
		}
		cur, in := e.applied[a.name], entry.App.Properties.Configuration.Ingress
		if sameJSON(cur, in) {
			continue
		}
		if why := ingressNeedsRestart(cur, in); why != "" {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("app %s: %s", a.name, why))
			continue
		}
		ri, err := ingressRoute(in)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("app %s: ingress: %v", a.name, err))
			continue
		}
		changed[a.name] = ri
	}
	for _, entry := range next.Apps {
		if !running[entry.App.Name] {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("app %s was added", entry.App.Name))
		}
	}

	certs, err := customDomainCerts(next)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
	} else {
		e.edgeCerts.SetCustomDomains(certs)
	}
	if len(changed) > 0 {
		e.mu.Lock()
		for _, a := range e.apps {
			if ri, ok := changed[a.name]; ok {
				a.ingress = ri
			}
		}
		e.routes.Store(e.tableLocked())
		e.mu.Unlock()
		for name := range changed {
			e.applied[name] = nextApps[name].App.Properties.Configuration.Ingress
		}
		res.Applied = slices.Sorted(maps.Keys(changed))
	}
	if err := e.syncTCPLocked(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	e.log.Info("environment reloaded", "applied", res.Applied, "needsRestart", res.NeedsRestart, "errors", res.Errors)
	return res, nil
}

// ingressByApp is every app's ingress as its YAML gives it.
func ingressByApp(env *spec.Environment) map[string]*spec.Ingress {
	out := map[string]*spec.Ingress{}
	for _, entry := range env.Apps {
		out[entry.App.Name] = entry.App.Properties.Configuration.Ingress
	}
	return out
}

// ingressNeedsRestart explains an ingress change the running replicas
// cannot take: turning ingress on or off changes their probes, and a
// target port is a port they listen on (their PORT and PORT_<target>).
func ingressNeedsRestart(cur, next *spec.Ingress) string {
	switch {
	case cur == nil && next != nil:
		return "ingress was enabled"
	case cur != nil && next == nil:
		return "ingress was disabled"
	case cur.TargetPort != next.TargetPort:
		return fmt.Sprintf("ingress targetPort changed from %d to %d", cur.TargetPort, next.TargetPort)
	}
	targets := func(in *spec.Ingress) []int {
		var out []int
		for _, m := range in.AdditionalPortMappings {
			out = append(out, m.TargetPort)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(targets(cur), targets(next)) {
		return "the target ports of additionalPortMappings changed"
	}
	return ""
}

// appChanged reports whether anything but the ingress differs between two
// versions of an app's entry.
func appChanged(cur, next *spec.AppEntry) bool {
	strip := func(e *spec.AppEntry) []byte {
		c := *e
		app := *e.App
		cfg := *app.Properties.Configuration
		cfg.Ingress = nil
		app.Properties.Configuration = &cfg
		c.App = &app
		b, _ := json.Marshal(c)
		return b
	}
	return !bytes.Equal(strip(cur), strip(next)) || !maps.Equal(cur.Secrets, next.Secrets)
}

// environmentChanges lists what changed in the environment file outside
// the apps that only a restart applies.
func environmentChanges(cur, next *spec.Environment) []string {
	var out []string
	check := func(what string, a, b any) {
		if !sameJSON(a, b) {
			out = append(out, what+" changed")
		}
	}
	check("domain", cur.Domain, next.Domain)
	check("edge", cur.Edge, next.Edge)
	check("components", cur.Components, next.Components)
	check("resiliency", cur.Resiliency, next.Resiliency)
	check("the Dapr configuration", cur.DaprConfig, next.DaprConfig)
	return out
}

func sameJSON(a, b any) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// serveReload is POST /v1/reload: 200 with a ReloadResult, or 400 with the
// environment file's problems.
func (e *Env) serveReload(w http.ResponseWriter, r *http.Request) {
	res, err := e.Reload(r.Context())
	var probs spec.Problems
	switch {
	case errors.As(err, &probs):
		writeJSON(w, http.StatusBadRequest, apiError{Error: "the environment file is invalid; nothing was changed:\n" + probs.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// Reload asks the environment to re-read its file (see Env.Reload).
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	err := c.do(ctx, http.MethodPost, "/v1/reload", &res)
	return res, err
}
