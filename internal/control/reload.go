package control

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
)

// ReloadResult reports what a reload of the environment file did.
type ReloadResult struct {
	// Applied are the apps whose new configuration (ingress, traffic,
	// activeRevisionsMode, targetLabel) now serves.
	Applied []string `json:"applied,omitempty"`
	// Revisions say which apps got a new revision ("web: web--abc →
	// web--def") and which revisions were stopped.
	Revisions []string `json:"revisions,omitempty"`
	// NeedsRestart describes the changes a reload cannot apply; they take
	// effect at the next `cove up`.
	NeedsRestart []string `json:"needsRestart,omitempty"`
	// Errors are changes that were accepted but failed to take effect,
	// such as a TCP port another process holds or a new revision whose
	// replicas never got ready.
	Errors []string `json:"errors,omitempty"`
}

// appReload is what a reload does to one app.
type appReload struct {
	app   *appRuntime
	entry *spec.AppEntry
	// ingress is the app's new ingress when it changed and applies live.
	ingress *routing.Ingress
	// mode is set when activeRevisionsMode changed; targetLabel is the
	// file's.
	mode        string
	targetLabel string
	// rollOut asks for a new revision; rev is it once ready.
	rollOut bool
	rev     *revisionRuntime
}

// Reload re-reads and validates the environment file and applies what can
// change while the environment runs.
//
// A revision-scope change of an app (its template, the secrets it reads,
// or cove's local settings such as its command) creates a new revision:
// its replicas start, and once every one is ready the new revision takes
// the traffic the app's ingress gives the latest revision, in one routing
// table swap; in Labels mode it takes the target label, and the traffic
// that label has. With activeRevisionsMode Single the previous revision
// then stops; with Multiple or Labels older revisions keep running while
// the traffic gives them weight or a label is on them. The new revisions of
// several apps roll out side by side. A revision that does not get ready
// is stopped and reported in Errors; the app keeps what it had.
//
// Configuration changes apply live: each app's ingress (external,
// transport and ports the replicas already have, IP rules, CORS, sticky
// sessions, client certificates, custom domains, traffic),
// activeRevisionsMode and targetLabel, and the custom domains'
// certificates. Requests in
// flight finish where they started; TCP listeners are opened and closed
// to match. Everything else is reported in NeedsRestart. An invalid file
// changes nothing and is returned as spec.Problems.
func (e *Env) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	// As up loaded it: a component's file, as named in it, is part of what
	// is compared, and must not differ only for being absolute now.
	next, err := Load(cmp.Or(e.spec.Given, e.spec.File))
	if err != nil {
		return res, err
	}
	if next, err = onlyApps(next, e.opts.Apps); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	select {
	case <-e.stopCh:
		return res, errStopping
	default:
	}
	if e.applied == nil {
		e.applied = ingressByApp(e.spec)
	}

	res.NeedsRestart = environmentChanges(e.spec, next)
	nextApps := map[string]*spec.AppEntry{}
	for _, entry := range next.Apps {
		nextApps[entry.App.Name] = entry
	}
	e.mu.Lock()
	apps := slices.Clone(e.apps)
	scopes := map[*appRuntime][]byte{}
	for _, a := range apps {
		if l := a.latestLocked(); l != nil {
			scopes[a] = l.scope
		}
	}
	e.mu.Unlock()
	var plans []*appReload
	running := map[string]bool{}
	for _, a := range apps {
		running[a.name] = true
		entry, ok := nextApps[a.name]
		if !ok {
			res.NeedsRestart = append(res.NeedsRestart, fmt.Sprintf("app %s was removed", a.name))
			continue
		}
		res.NeedsRestart = append(res.NeedsRestart, appNeedsRestart(a.entry, entry)...)
		p := &appReload{app: a, entry: entry, rollOut: !bytes.Equal(scopes[a], revisionScope(entry)),
			targetLabel: entry.App.Properties.Configuration.TargetLabel}
		if m := entry.App.Properties.Configuration.ActiveRevisionsMode; !strings.EqualFold(m, a.mode) {
			p.mode = m
		}
		plans = append(plans, p)
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
		p.ingress = ri
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

	// New revisions start before anything else changes, so one that fails
	// leaves its app as it was.
	res.Errors = append(res.Errors, e.rollOutAll(ctx, plans)...)

	var retired []retirement
	var events []Event
	e.mu.Lock()
	old := e.routes.Load()
	for _, p := range plans {
		out, evs := e.applyLocked(p, &res)
		retired, events = append(retired, out...), append(events, evs...)
	}
	e.routes.Store(e.tableLocked())
	e.mu.Unlock()
	for _, ev := range events {
		e.opts.Events(ev)
	}
	for _, r := range retired {
		e.retire(old, []*revisionRuntime{r.rev}, r.why)
	}
	for _, p := range plans {
		if p.ingress != nil {
			e.applied[p.app.name] = p.entry.App.Properties.Configuration.Ingress
		}
	}
	if err := e.syncTCPLocked(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	e.log.Info("environment reloaded", "applied", res.Applied, "revisions", res.Revisions, "needsRestart", res.NeedsRestart, "errors", res.Errors)
	return res, nil
}

// retirement is a revision a reload took out of service, and why.
type retirement struct {
	rev *revisionRuntime
	why string
}

// applyLocked applies what a reload changes of one app: its configuration
// (ingress, activeRevisionsMode, targetLabel) and its new revision, which
// becomes the latest. It reassigns the traffic, reports in res, and
// returns the revisions that leave the routing table and the events to
// send once Env.mu is released.
func (e *Env) applyLocked(p *appReload, res *ReloadResult) ([]retirement, []Event) {
	a := p.app
	a.current = p.entry
	configured := false
	if p.ingress != nil {
		a.ingress, a.traffic = p.ingress, p.entry.App.Properties.Configuration.Ingress.Traffic
		configured = true
	}
	if p.mode != "" {
		a.mode, configured = p.mode, true
	}
	if p.targetLabel != a.targetLabel {
		a.targetLabel, configured = p.targetLabel, true
	}
	if configured {
		res.Applied = append(res.Applied, a.name)
	}
	if p.rev == nil && !configured {
		return nil, nil
	}
	prev := a.latestLocked()
	holder := a.labelAt[a.targetLabel] // before the new revision takes it
	if p.rev != nil {
		p.rev.state = revActive
	}
	var retired []retirement
	for _, r := range e.assignTrafficLocked(a, p.rev) {
		retired = append(retired, retirement{r, retiredBecause(a, p.rev, r, holder)})
	}
	share := trafficLocked(a)
	var events []Event
	if p.rev != nil {
		from := "(none)"
		if prev != nil {
			from = prev.name
		}
		line := fmt.Sprintf("%s: %s → %s", a.name, from, p.rev.name)
		if strings.Contains(share, ",") {
			line += " (traffic: " + share + ")"
		}
		res.Revisions = append(res.Revisions, line)
		events = append(events, Event{Kind: EventRevision, App: a.name, Message: fmt.Sprintf("revision %s of %s is active (traffic: %s)", p.rev.name, a.name, share)})
	}
	for _, r := range retired {
		// In single mode "old → new" says the old one stops.
		if r.rev != prev || p.rev == nil || isMultiple(a.mode) {
			res.Revisions = append(res.Revisions, fmt.Sprintf("%s: %s stopped (%s)", a.name, r.rev.name, r.why))
		}
	}
	return retired, events
}

// retiredBecause says why r leaves service as fresh (nil without a new
// revision) becomes active; holder is the revision that had the target
// label before.
func retiredBecause(a *appRuntime, fresh, r *revisionRuntime, holder string) string {
	switch {
	case !isMultiple(a.mode) && fresh != nil:
		return "replaced by " + fresh.name
	case !isMultiple(a.mode):
		return "activeRevisionsMode Single runs the latest revision only"
	case isLabels(a.mode) && fresh != nil && r.name == holder:
		return fmt.Sprintf("its label %s moved to %s", a.targetLabel, fresh.name)
	}
	return "the ingress traffic gives it neither weight nor label"
}

// rollOutAll rolls out the new revisions the plans ask for, every app's at
// once: the apps' builds, starts and readiness waits are independent, so a
// reload takes as long as its slowest app, not their sum. It sets each
// plan's rev and returns the failures, in the plans' order.
func (e *Env) rollOutAll(ctx context.Context, plans []*appReload) []string {
	errs := make([]error, len(plans))
	var wg sync.WaitGroup
	for i, p := range plans {
		if !p.rollOut {
			continue
		}
		wg.Go(func() { p.rev, errs[i] = e.rollOut(ctx, p.app, p.entry) })
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Sprintf("app %s keeps its current revision: %v", plans[i].app.name, err))
		}
	}
	return out
}

// isMultiple reports whether an activeRevisionsMode keeps more than the
// latest revision running: Multiple and Labels.
func isMultiple(mode string) bool {
	return strings.EqualFold(mode, "Multiple") || isLabels(mode)
}

// isLabels reports whether an activeRevisionsMode is Labels, where traffic
// goes to labels and new revisions take the target label.
func isLabels(mode string) bool {
	return strings.EqualFold(mode, "Labels")
}

// trafficLocked renders how the app's active revisions share its traffic,
// newest first: "web--def 20%, web--abc 80%".
func trafficLocked(a *appRuntime) string {
	var parts []string
	for _, r := range slices.Backward(a.revisions) {
		if r.state == revActive {
			parts = append(parts, fmt.Sprintf("%s %d%%", r.name, r.weight))
		}
	}
	return strings.Join(parts, ", ")
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

// appNeedsRestart lists the changes of an app's configuration that
// neither a new revision nor the routing table applies: its Dapr settings
// and Dapr Configuration (its sidecars and state block are built from
// them) and the ACA settings cove does not act on while running.
func appNeedsRestart(cur, next *spec.AppEntry) []string {
	var out []string
	name := cur.App.Name
	cc, nc := cur.App.Properties.Configuration, next.App.Properties.Configuration
	if !sameJSON(cc.Dapr, nc.Dapr) {
		out = append(out, fmt.Sprintf("app %s: its Dapr settings changed", name))
	}
	if !sameJSON(cur.DaprConfig, next.DaprConfig) {
		out = append(out, fmt.Sprintf("app %s: its Dapr Configuration changed", name))
	}
	rest := func(c *spec.Configuration) spec.Configuration {
		r := *c
		r.Ingress, r.Dapr, r.Secrets, r.Registries = nil, nil, nil, nil
		r.ActiveRevisionsMode, r.MaxInactiveRevisions, r.TargetLabel = "", nil, ""
		return r
	}
	if !sameJSON(rest(cc), rest(nc)) {
		out = append(out, fmt.Sprintf("app %s: its configuration (service, identitySettings or runtime) changed", name))
	}
	return out
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

// Reload asks the environment to re-read its file (see Env.Reload).
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	err := c.do(ctx, http.MethodPost, "/v1/reload", &res)
	return res, err
}
