package control

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/spec"
)

// revisionTimesFile, in the state directory, records when each revision
// was first created: a revision is named from its template, so the one a
// later `cove up` starts from the same template keeps its createdTime.
const revisionTimesFile = "revisions.json"

// revisionTimes is the record of revisionTimesFile.
type revisionTimes struct {
	mu   sync.Mutex
	path string // empty: kept in memory only
	m    map[string]time.Time
}

// revisionCreated is when the revision name was first created: now, and
// recorded, when it never was. A record that cannot be read or written
// costs only the times of earlier runs (a warning says so).
func (e *Env) revisionCreated(name string) time.Time {
	e.revTimesOnce.Do(func() {
		e.revTimes = &revisionTimes{m: map[string]time.Time{}}
		if e.plane == nil || e.stateDir == "" {
			return
		}
		e.revTimes.path = filepath.Join(e.stateDir, revisionTimesFile)
		b, err := os.ReadFile(e.revTimes.path)
		if err == nil {
			err = json.Unmarshal(b, &e.revTimes.m)
		}
		if err != nil && !os.IsNotExist(err) {
			e.log.Warn("revisions' created times of earlier runs are lost", "file", e.revTimes.path, "err", err)
		}
	})
	rt := e.revTimes
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if t, ok := rt.m[name]; ok {
		return t
	}
	now := time.Now().UTC()
	rt.m[name] = now
	if rt.path != "" {
		b, err := json.MarshalIndent(rt.m, "", "  ")
		if err == nil {
			err = security.WriteAtomic(rt.path, b, 0o644)
		}
		if err != nil {
			e.log.Warn("recording a revision's created time", "file", rt.path, "err", err)
		}
	}
	return now
}

// inactiveRevision is a revision taken out of service while the
// environment runs, kept so that activating it starts it again as it was.
type inactiveRevision struct {
	name    string
	entry   *spec.AppEntry
	created time.Time
}

// defaultMaxInactive is how many inactive revisions an app keeps unless
// its maxInactiveRevisions says, as ACA.
const defaultMaxInactive = 100

// keepInactiveLocked records rev, just stopped after serving, as inactive,
// the oldest dropped beyond the app's maxInactiveRevisions.
func (a *appRuntime) keepInactiveLocked(rev *revisionRuntime) {
	a.dropInactiveLocked(rev.name)
	a.inactive = append(a.inactive, &inactiveRevision{name: rev.name, entry: rev.entry, created: rev.created})
	limit := defaultMaxInactive
	if a.current == nil {
		return
	}
	if m := a.current.App.Properties.Configuration.MaxInactiveRevisions; m != nil {
		limit = *m
	}
	if over := len(a.inactive) - limit; over > 0 {
		a.inactive = slices.Delete(a.inactive, 0, over)
	}
}

// dropInactiveLocked forgets the inactive revision name, which runs again.
func (a *appRuntime) dropInactiveLocked(name string) {
	a.inactive = slices.DeleteFunc(a.inactive, func(r *inactiveRevision) bool { return r.name == name })
}

// toReviveLocked are the inactive revisions of a that the traffic of
// entry names: a reload starts them again.
func (a *appRuntime) toReviveLocked(entry *spec.AppEntry) []*inactiveRevision {
	in := entry.App.Properties.Configuration.Ingress
	if in == nil || !isMultiple(entry.App.Properties.Configuration.ActiveRevisionsMode) {
		return nil
	}
	var out []*inactiveRevision
	for _, tw := range in.Traffic {
		if tw.RevisionName == "" || a.hasRevision(tw.RevisionName) {
			continue
		}
		i := slices.IndexFunc(a.inactive, func(r *inactiveRevision) bool { return r.name == tw.RevisionName })
		if i >= 0 && !slices.Contains(out, a.inactive[i]) {
			out = append(out, a.inactive[i])
		}
	}
	return out
}

// RestartRevision restarts every replica of an app's active revision in
// place, gracefully, as ACA's revision restart does; it returns once each
// has been asked to.
func (e *Env) RestartRevision(app, revision string) error {
	e.mu.Lock()
	var names []string
	found := false
	for _, a := range e.apps {
		if a.name != app {
			continue
		}
		for _, rev := range a.revisions {
			if rev.name == revision && rev.state == revActive {
				found = true
				for _, r := range rev.replicas {
					names = append(names, r.name)
				}
			}
		}
	}
	e.mu.Unlock()
	if !found {
		return fmt.Errorf("app %s has no active revision %q", app, revision)
	}
	for _, n := range names {
		if err := e.sup.Restart(n); err != nil {
			return err
		}
	}
	return nil
}

// revive starts an inactive revision again under its name, from the entry
// it ran: built, started and ready as a new revision is, in its place by
// creation time, so that it does not become the latest.
func (e *Env) revive(ctx context.Context, a *appRuntime, rec *inactiveRevision) (*revisionRuntime, error) {
	rev, err := e.launch(ctx, a, rec.entry, rec.name)
	if err != nil {
		e.mu.Lock()
		a.inactive = append(a.inactive, rec) // still there to activate
		e.mu.Unlock()
	}
	return rev, err
}

// InactiveRevision is a revision stopped after serving while the
// environment runs, which activating starts again.
type InactiveRevision struct {
	Name     string
	Created  time.Time
	Template *spec.Template
}

// revisionOp is POST …/revisions/{rev}/activate, deactivate or restart.
func revisionOp(m managed, r *http.Request) (*withETag, *ARMErrorDetail) {
	as, errd := findApp(m, r)
	if errd != nil {
		return nil, errd
	}
	rev := r.PathValue("rev")
	switch op := r.PathValue("op"); op {
	case "restart":
		return nil, restartRevision(m, r, as, rev)
	case "activate", "deactivate":
		return nil, setRevisionActive(m, r, as, rev, op == "activate")
	default:
		return nil, badRequest("InvalidRequestContent", "a revision has no operation %q: use activate, deactivate or restart", op)
	}
}

// findRevision is app's revision rev as it runs (nil when it does not)
// and whether it is inactive, or a 404.
func findRevision(ctx context.Context, m managed, as AppSpec, rev string) (*RevisionStatus, bool, *ARMErrorDetail) {
	for _, a := range m.Status(ctx).Apps {
		if a.Name != as.App.Name {
			continue
		}
		if i := slices.IndexFunc(a.Revisions, func(r RevisionStatus) bool { return r.Name == rev }); i >= 0 {
			return &a.Revisions[i], false, nil
		}
	}
	if slices.ContainsFunc(as.Inactive, func(r InactiveRevision) bool { return r.Name == rev }) {
		return nil, true, nil
	}
	return nil, false, notFound("Microsoft.App/containerApps/revisions", rev, fmt.Sprintf("`cove containerapp revision list -n %s --all` lists them", as.App.Name))
}

// conflict is a ContainerAppOperationError (409).
func conflict(format string, args ...any) *ARMErrorDetail {
	return &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(format, args...)}
}

// restartRevision restarts an active revision's replicas in place.
func restartRevision(m managed, r *http.Request, as AppSpec, rev string) *ARMErrorDetail {
	app := as.App.Name
	rs, inactive, errd := findRevision(r.Context(), m, as, rev)
	switch {
	case errd != nil:
		return errd
	case inactive:
		return conflict("revision %s is inactive: `cove containerapp revision activate -n %s --revision %s` starts it", rev, app, rev)
	case rs.State != string(revActive):
		return conflict("revision %s is %s, not active; restart it once it is", rev, rs.State)
	}
	if err := m.RestartRevision(app, rev); err != nil {
		return conflict("%v", err)
	}
	return nil
}

// setRevisionActive activates or deactivates a revision. An app's active
// revisions beside the latest are those its ingress traffic names, so
// both are writes of the traffic: activate adds an entry of weight 0 for
// the revision, and the reload starts it again; deactivate removes the
// revision's entry, and the reload stops it.
func setRevisionActive(m managed, r *http.Request, as AppSpec, rev string, activate bool) *ARMErrorDetail {
	app := as.App.Name
	rs, inactive, errd := findRevision(r.Context(), m, as, rev)
	if errd != nil {
		return errd
	}
	switch {
	case activate && rs != nil && rs.State == string(revActive), !activate && inactive:
		return nil // as asked already
	case rs != nil && rs.State != string(revActive):
		return conflict("revision %s is %s; try again once it has finished", rev, rs.State)
	case !activate && rs.Latest:
		return conflict("revision %s is the latest of app %s, which new traffic goes to; create a newer one first (`cove containerapp update -n %s --revision-suffix …`)", rev, app, app)
	case !activate && (rs.Weight > 0 || len(rs.Labels) > 0):
		return conflict("revision %s has %d%% of the traffic and labels [%s]; move them first: `cove containerapp ingress traffic set -n %s --revision-weight …` moves its weight, `cove containerapp revision label remove` takes a label off",
			rev, rs.Weight, strings.Join(rs.Labels, ", "), app)
	}
	data, err := os.ReadFile(as.Path)
	if err != nil {
		return internalError(err)
	}
	cur, probs := spec.ParseContainerApp(as.File, data)
	if probs.Err() != nil {
		return badRequest("ContainerAppInvalidProperties", "%s is invalid; fix it first:\n%s", as.File, probs.Err())
	}
	cfg := cur.Properties.Configuration
	if !isMultiple(cfg.ActiveRevisionsMode) {
		return conflict("app %s runs in activeRevisionsMode %s, where only the latest revision is active: `cove containerapp revision set-mode -n %s --mode multiple` first",
			app, cmp.Or(cfg.ActiveRevisionsMode, "Single"), app)
	}
	if cfg.Ingress == nil {
		return conflict("app %s has no ingress, whose traffic says which of its revisions are active; give it one first", app)
	}
	traffic := slices.Clone(cfg.Ingress.Traffic)
	if len(traffic) == 0 {
		traffic = []spec.TrafficWeight{{LatestRevision: true, Weight: 100}}
	}
	names := func(tw spec.TrafficWeight) bool { return tw.RevisionName == rev }
	if activate {
		if !slices.ContainsFunc(traffic, names) {
			traffic = append(traffic, spec.TrafficWeight{RevisionName: rev})
		}
	} else {
		traffic = slices.DeleteFunc(traffic, names) // weight 0, no label: checked above
	}
	patch, err := json.Marshal(map[string]any{"properties": map[string]any{"configuration": map[string]any{"ingress": map[string]any{"traffic": traffic}}}})
	if err != nil {
		return internalError(err)
	}
	_, errd = applyPatch(m, r, as, data, patch)
	return errd
}
