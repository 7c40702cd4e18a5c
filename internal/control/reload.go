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
	"time"

	"github.com/cove-env/cove/internal/resources"
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
	// app is the app as it runs; nil for one the file adds.
	app   *appRuntime
	entry *spec.AppEntry
	// fresh, when set, takes the app's place (or is added): what the
	// running app cannot take (its Dapr settings, ingress switched on or
	// off) is built anew, as ACA makes a new revision of it. replaced
	// says why. remove retires app for good.
	fresh    *appRuntime
	replaced string
	remove   bool
	// ingress is the app's new ingress when it changed and applies live.
	ingress *routing.Ingress
	// mode is set when activeRevisionsMode changed; targetLabel is the
	// file's.
	mode        string
	targetLabel string
	// rollOut asks for a new revision; rev is it once ready.
	rollOut bool
	rev     *revisionRuntime
	// revive are the inactive revisions the traffic names, to start
	// again; revived, those that got ready.
	revive  []*inactiveRevision
	revived []*revisionRuntime
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
// An app whose Dapr settings or Dapr Configuration change, or whose
// ingress is switched on or off or changes target ports, is built anew:
// its new revision starts as above, then takes the place of all the
// app's revisions. An app the file adds starts the same way; one it no
// longer lists leaves the routing table and stops.
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
	// `cove up APP...` left the others out; an app added since runs.
	next.Apps = slices.DeleteFunc(slices.Clone(next.Apps), func(entry *spec.AppEntry) bool { return e.skipped[entry.App.Name] })
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
	// Components change first: the apps they touch are built anew over them.
	cc, err := e.changeComponents(ctx, next.Components)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		cc = componentChange{set: e.comps}
	}
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
			plans = append(plans, &appReload{app: a, remove: true})
			continue
		}
		res.NeedsRestart = append(res.NeedsRestart, appNeedsRestart(a.entry, entry)...)
		why := appReplaced(a.entry, e.applied[a.name], entry)
		if why == "" && a.daprAppID != "" {
			why = cc.touches(a.daprAppID)
		}
		if why != "" {
			if p := e.planFresh(a, entry, why, cc.set, &res); p != nil {
				plans = append(plans, p)
			}
			continue
		}
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
		ri, err := ingressRoute(in)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("app %s: ingress: %v", a.name, err))
			continue
		}
		p.ingress = ri
	}
	e.mu.Lock()
	for _, p := range plans {
		if p.app != nil && p.fresh == nil && !p.remove && p.entry != nil {
			p.revive = p.app.toReviveLocked(p.entry)
		}
	}
	e.mu.Unlock()
	for _, entry := range next.Apps {
		if !running[entry.App.Name] {
			if p := e.planFresh(nil, entry, "added", cc.set, &res); p != nil {
				plans = append(plans, p)
			}
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
	if cc.changed() && slices.ContainsFunc(plans, func(p *appReload) bool { return p.fresh != nil && p.rev == nil }) {
		// Components change for every app or for none: the apps built
		// over them stop, and the components loaded for them close.
		for _, p := range plans {
			if p.fresh != nil && p.rev != nil {
				e.stopRevision(p.rev, "the components did not change", nil)
				p.rev = nil
			}
		}
		if err := resources.Close(cc.loaded); err != nil {
			e.log.Warn("closing components", "err", err)
		}
		res.Errors = append(res.Errors, "the components were not changed: "+strings.Join(cc.names, ", "))
		cc = componentChange{set: e.comps}
	}

	var retired []retirement
	var events []Event
	var gone []*appRuntime
	e.mu.Lock()
	old := e.routes.Load()
	appsChanged := false
	for _, p := range plans {
		var out []retirement
		var evs []Event
		switch {
		case p.remove || p.fresh != nil:
			if p.fresh != nil && p.rev == nil {
				continue // its revision failed, reported in Errors
			}
			out, evs = e.swapAppLocked(p, &res)
			if p.app != nil {
				gone = append(gone, p.app)
			}
			appsChanged = true
		default:
			out, evs = e.applyLocked(p, &res)
		}
		retired, events = append(retired, out...), append(events, evs...)
	}
	if appsChanged {
		e.invoker.SetPolicies(newPolicies(e.spec, e.apps, e.log))
	}
	if cc.changed() {
		e.comps = cc.set
		e.components = cc.next
	}
	e.routes.Store(e.tableLocked())
	e.mu.Unlock()
	for _, ev := range events {
		e.opts.Events(ev)
	}
	for _, r := range retired {
		e.retire(old, []*revisionRuntime{r.rev}, r.why)
	}
	e.closeWhenStopped(gone, cc.dropped)
	for _, p := range plans {
		switch {
		case p.remove:
			delete(e.applied, p.app.name)
		case p.fresh != nil && p.rev != nil:
			e.applied[p.fresh.name] = p.entry.App.Properties.Configuration.Ingress
		case p.fresh != nil:
			p.fresh.closeDapr()
		case p.ingress != nil:
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
	if p.rev == nil && !configured && len(p.revived) == 0 {
		return nil, nil
	}
	prev := a.latestLocked()
	holder := a.labelAt[a.targetLabel] // before the new revision takes it
	if p.rev != nil {
		p.rev.state = revActive
	}
	for _, r := range p.revived {
		r.state = revActive
		res.Revisions = append(res.Revisions, fmt.Sprintf("%s: %s activated", a.name, r.name))
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
	revErrs := make([][]error, len(plans))
	var wg sync.WaitGroup
	for i, p := range plans {
		if !p.rollOut && len(p.revive) == 0 {
			continue
		}
		a := p.app
		if p.fresh != nil {
			a = p.fresh
		}
		wg.Go(func() {
			if p.rollOut {
				p.rev, errs[i] = e.rollOut(ctx, a, p.entry)
			}
			for _, rec := range p.revive {
				rev, err := e.revive(ctx, a, rec)
				if err != nil {
					revErrs[i] = append(revErrs[i], fmt.Errorf("revision %s stays inactive: %w", rec.name, err))
					continue
				}
				p.revived = append(p.revived, rev)
			}
		})
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		switch p := plans[i]; {
		case err == nil:
		case p.app == nil:
			out = append(out, fmt.Sprintf("app %s was not added: %v", p.fresh.name, err))
		default:
			out = append(out, fmt.Sprintf("app %s keeps its current revision: %v", p.app.name, err))
		}
		for _, err := range revErrs[i] {
			out = append(out, fmt.Sprintf("app %s: %v", plans[i].entry.App.Name, err))
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
// cannot take, so that the app is built anew: turning ingress on or off
// changes their probes, and a target port is a port they listen on (their
// PORT and PORT_<target>).
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

// appReplaced says why an app must be built anew rather than changed in
// place, "" when it need not: its Dapr settings and Dapr Configuration (its
// sidecars and blocks are built from them) and ingress switched on or off
// or moved to other target ports (its replicas' probes and ports). curIn is
// the ingress as last applied.
func appReplaced(cur *spec.AppEntry, curIn *spec.Ingress, next *spec.AppEntry) string {
	cc, nc := cur.App.Properties.Configuration, next.App.Properties.Configuration
	switch {
	case !sameJSON(cc.Dapr, nc.Dapr):
		return "its Dapr settings changed"
	case !sameJSON(cur.DaprConfig, next.DaprConfig):
		return "its Dapr Configuration changed"
	case !sameJSON(curIn, nc.Ingress):
		return ingressNeedsRestart(curIn, nc.Ingress)
	}
	return ""
}

// appNeedsRestart lists the changes of an app's configuration that
// neither a new revision nor the routing table applies: the ACA settings
// cove does not act on while running.
func appNeedsRestart(cur, next *spec.AppEntry) []string {
	var out []string
	name := cur.App.Name
	cc, nc := cur.App.Properties.Configuration, next.App.Properties.Configuration
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

// planFresh plans building the app anew from entry (why says why), over
// the components of comps, to take the place of a, or added when a is nil. The app's name gets a
// hosts entry first, so its replicas resolve it. A translation that fails
// is reported in res.Errors and plans nothing.
func (e *Env) planFresh(a *appRuntime, entry *spec.AppEntry, why string, comps *resources.Set, res *ReloadResult) *appReload {
	if a == nil {
		if err := e.addAppName(entry.App.Name); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("app %s was not added: %v", entry.App.Name, err))
			return nil
		}
	}
	if entry.Containers() {
		e.ensureEngine(context.Background(), entry.App.Name)
	}
	fresh, err := e.newApp(entry, comps)
	if err != nil {
		verb := "was not changed"
		if a == nil {
			verb = "was not added"
		}
		res.Errors = append(res.Errors, fmt.Sprintf("app %s %s: %v", entry.App.Name, verb, err))
		return nil
	}
	return &appReload{app: a, entry: entry, fresh: fresh, replaced: why, rollOut: true}
}

// swapAppLocked puts a plan's fresh app, its new revision active, in the
// place of the app it replaces, or adds it, or removes the app the plan
// removes. It returns the revisions that leave the routing table.
func (e *Env) swapAppLocked(p *appReload, res *ReloadResult) ([]retirement, []Event) {
	var retired []retirement
	var events []Event
	why := "app removed"
	if p.fresh != nil {
		f := p.fresh
		p.rev.state = revActive
		e.assignTrafficLocked(f, p.rev)
		why = "replaced by " + p.rev.name + " (" + p.replaced + ")"
		from := "(none)"
		if p.app != nil {
			if l := p.app.latestLocked(); l != nil {
				from = l.name
			}
		}
		res.Applied = append(res.Applied, f.name)
		res.Revisions = append(res.Revisions, fmt.Sprintf("%s: %s → %s (%s)", f.name, from, p.rev.name, p.replaced))
		events = append(events, Event{Kind: EventRevision, App: f.name, Message: fmt.Sprintf("revision %s of %s is active (%s)", p.rev.name, f.name, p.replaced)})
	}
	if i := slices.Index(e.apps, p.app); p.app != nil && i >= 0 {
		if p.fresh != nil {
			e.apps[i] = p.fresh
		} else {
			e.apps = slices.Delete(e.apps, i, i+1)
			res.Applied = append(res.Applied, p.app.name)
		}
		for _, r := range p.app.revisions {
			if r.state == revActive {
				r.state = revStopping
				retired = append(retired, retirement{r, why})
				if p.fresh == nil { // "old → new" says it of a replaced app
					res.Revisions = append(res.Revisions, fmt.Sprintf("%s: %s stopped (%s)", p.app.name, r.name, why))
				}
			}
		}
	} else if p.fresh != nil {
		e.apps = append(e.apps, p.fresh)
	}
	return retired, events
}

// closeWhenStopped closes the building blocks of the apps that left the
// environment, then the components a reload dropped, once the apps'
// revisions have stopped, in the background; the environment's stop waits
// for it, or closes them itself when it comes first.
func (e *Env) closeWhenStopped(apps []*appRuntime, dropped []*resources.Component) {
	if len(apps) == 0 && len(dropped) == 0 {
		return
	}
	e.retiring.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			e.mu.Lock()
			n := 0
			for _, a := range apps {
				n += len(a.revisions)
			}
			e.mu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-e.stopCh:
				// Env.stop closes them after the sidecars.
				e.mu.Lock()
				e.gone = append(e.gone, apps...)
				e.goneComps = append(e.goneComps, dropped...)
				e.mu.Unlock()
				return
			case <-tick.C:
			}
		}
		for _, a := range apps {
			a.closeDapr()
		}
		if err := resources.Close(dropped); err != nil {
			e.log.Warn("closing the components a reload replaced", "err", err)
		}
	})
}

// closeDapr closes the app's building blocks, if it has any.
func (a *appRuntime) closeDapr() {
	if a.dapr != nil {
		_ = a.dapr.Close()
	}
}

// componentChange is what a reload changes of the components: set is the
// components apps built by the reload use (the running ones when nothing
// changed).
type componentChange struct {
	set *resources.Set
	// next are the file's components, when they changed; names are the
	// components added, changed or removed, and specs their old and new
	// specs, whose scopes say which apps they touch.
	next  []*spec.ComponentEntry
	names []string
	specs []*spec.Component
	// loaded are the components set loaded anew; dropped, those of the
	// running set it no longer has, to close once their apps have stopped.
	loaded, dropped []*resources.Component
}

func (c componentChange) changed() bool { return len(c.names) > 0 }

// touches says why an app with Dapr app id appID must be built anew for
// the change: a component in its scope was added, changed or removed; ""
// when none was.
func (c componentChange) touches(appID string) string {
	for _, s := range c.specs {
		if s.InScope(appID) {
			return fmt.Sprintf("component %s changed", s.Name)
		}
	}
	return ""
}

// changeComponents compares the file's components with the running ones,
// by name, and loads the added and changed ones into a new set, which
// shares the others' instances. Nothing runs on the new set until the
// reload swaps it in.
func (e *Env) changeComponents(ctx context.Context, next []*spec.ComponentEntry) (componentChange, error) {
	if e.components == nil {
		e.components = e.spec.Components
	}
	cc := componentChange{set: e.comps}
	cur := map[string]*spec.Component{}
	for _, entry := range e.components {
		cur[entry.Name] = entry.Component
	}
	var changed []*spec.Component
	var removed []string
	for _, entry := range next {
		c := entry.Component
		old, ok := cur[entry.Name]
		delete(cur, entry.Name)
		if ok && sameJSON(old, c) {
			continue
		}
		changed = append(changed, c)
		cc.names = append(cc.names, entry.Name)
		cc.specs = append(cc.specs, c)
		if ok {
			cc.specs = append(cc.specs, old)
		}
	}
	for name, old := range cur {
		removed = append(removed, name)
		cc.names = append(cc.names, name)
		cc.specs = append(cc.specs, old)
	}
	if !cc.changed() {
		return cc, nil
	}
	set, dropped, err := e.comps.Update(ctx, changed, removed, componentOptions(e.stateDir, "http://"+e.internalLn.Addr().String(), e.log, e.opts.Events))
	if err != nil {
		return componentChange{}, fmt.Errorf("the components were not changed: %w", err)
	}
	cc.set, cc.next, cc.dropped = set, next, dropped
	for _, lc := range set.All() {
		if !slices.Contains(e.comps.All(), lc) {
			cc.loaded = append(cc.loaded, lc)
		}
	}
	return cc, nil
}
