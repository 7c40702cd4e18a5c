package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// DefaultRevisionTimeout bounds how long a reload waits for a new
// revision's replicas to be ready unless Options.RevisionTimeout says
// otherwise.
const DefaultRevisionTimeout = 2 * time.Minute

// drainSettle is how long a revision taken out of the routing table waits
// before it counts the requests and invocations still in flight: a call
// that picked one of its replicas from the previous table begins within
// it.
const drainSettle = 100 * time.Millisecond

var errStopping = errors.New("the environment is stopping")

// latestLocked is the app's newest active revision; nil before any is.
func (a *appRuntime) latestLocked() *revisionRuntime {
	for _, r := range slices.Backward(a.revisions) {
		if r.state == revActive {
			return r
		}
	}
	return nil
}

// assignTrafficLocked gives the app's active revisions their share of its
// traffic and their labels, from the traffic as last applied, and returns
// the revisions that are active no more, now marked stopping: in single
// mode every one but the latest; otherwise those that neither the traffic
// gives weight nor a label is on. fresh is a revision a reload has just
// made active, which takes the target label in Labels mode. A traffic entry
// naming a revision cove does not run (at `cove up` only the file's
// template exists) gives its weight and label to the latest revision, with
// one warning.
func (e *Env) assignTrafficLocked(a *appRuntime, fresh *revisionRuntime) (retired []*revisionRuntime) {
	latest := a.latestLocked()
	if latest == nil {
		return nil
	}
	var traffic []spec.TrafficWeight
	if a.ingress != nil {
		traffic = a.traffic
	}
	// The revisions traffic can go to: in single mode the latest only.
	running := map[string]*revisionRuntime{latest.name: latest}
	if isMultiple(a.mode) {
		for _, r := range a.revisions {
			if r.state == revActive {
				running[r.name] = r
			}
		}
	}
	labeled := e.placeLabelsLocked(a, traffic, running, latest, fresh)
	targets := make([]*revisionRuntime, len(traffic))
	kept := map[*revisionRuntime]bool{latest: true}
	for _, r := range labeled {
		kept[r] = true
	}
	for i, tw := range traffic {
		targets[i] = labeled[tw.Label]
		if targets[i] == nil || tw.LatestRevision {
			targets[i] = e.trafficTargetLocked(a, tw, running, latest)
		}
		// As in ACA, a revision the traffic names stays active at 0%.
		if tw.Weight > 0 || tw.Label != "" || tw.RevisionName != "" && running[tw.RevisionName] != nil {
			kept[targets[i]] = true
		}
	}
	for _, r := range a.revisions {
		if r.state != revActive {
			continue
		}
		if !kept[r] {
			// Out of the next routing table; retire stops it.
			r.state = revStopping
			retired = append(retired, r)
			continue
		}
		r.weight, r.labels = 0, nil
	}
	if len(traffic) == 0 {
		latest.weight = 100
	}
	for i, tw := range traffic {
		targets[i].weight += tw.Weight
		if tw.Label != "" {
			targets[i].labels = append(targets[i].labels, tw.Label)
			delete(labeled, tw.Label)
		}
	}
	// What is left is the target label no traffic entry names.
	for l, r := range labeled {
		r.labels = append(r.labels, l)
	}
	return retired
}

// trafficTargetLocked is the revision a traffic entry not resolved by its
// label names: the latest, or the one of running its revisionName names,
// else the latest with one warning.
func (e *Env) trafficTargetLocked(a *appRuntime, tw spec.TrafficWeight, running map[string]*revisionRuntime, latest *revisionRuntime) *revisionRuntime {
	if tw.LatestRevision {
		return latest
	}
	if r, ok := running[tw.RevisionName]; ok {
		return r
	}
	if (tw.Weight > 0 || tw.Label != "") && !a.warned[tw.RevisionName] {
		a.warned[tw.RevisionName] = true
		e.log.Warn("ingress traffic names a revision cove does not run; its weight and label go to the latest revision",
			"app", a.name, "revision", tw.RevisionName, "weight", tw.Weight, "label", tw.Label, "latest", latest.name)
	}
	return latest
}

// placeLabelsLocked works out where each label is in Labels mode, where
// labels are the app's state rather than the file's, as in ACA: a label
// stays on its revision until something moves it. The target label moves
// to fresh, the new revision; a traffic entry moves its label to the
// revision it names when it is new or names another one than before (an
// unchanged entry leaves the label where it went since); a label-only
// entry's label starts on the latest revision, and latestRevision: true
// keeps it there. A label no entry and no targetLabel names is dropped; one
// whose revision does not run goes to the latest. It returns the running
// revision of each label; nil in other modes, where labels follow the
// traffic entries.
func (e *Env) placeLabelsLocked(a *appRuntime, traffic []spec.TrafficWeight, running map[string]*revisionRuntime, latest, fresh *revisionRuntime) map[string]*revisionRuntime {
	if !isLabels(a.mode) {
		a.labelAt, a.pinned = nil, nil
		return nil
	}
	if a.labelAt == nil {
		a.labelAt, a.pinned = map[string]string{}, map[string]string{}
	}
	named := map[string]bool{}
	for _, tw := range traffic {
		l := tw.Label
		if l == "" {
			continue
		}
		named[l] = true
		switch {
		case tw.LatestRevision:
			a.labelAt[l] = latest.name
		case tw.RevisionName != "" && a.pinned[l] != tw.RevisionName:
			a.pinned[l] = tw.RevisionName
			a.labelAt[l] = e.trafficTargetLocked(a, tw, running, latest).name
		case a.labelAt[l] == "":
			a.labelAt[l] = latest.name
		}
	}
	if tl := a.targetLabel; tl != "" {
		named[tl] = true
		switch {
		case fresh != nil:
			a.labelAt[tl] = fresh.name
		case a.labelAt[tl] == "":
			a.labelAt[tl] = latest.name
		}
	}
	out := map[string]*revisionRuntime{}
	for l, name := range a.labelAt {
		if !named[l] {
			delete(a.labelAt, l)
			delete(a.pinned, l)
			continue
		}
		r, ok := running[name]
		if !ok {
			r = latest
			a.labelAt[l] = r.name
		}
		out[l] = r
	}
	return out
}

// rollOut creates a new revision of a from entry, builds it, starts its
// replicas and waits until every one is ready. It takes no traffic yet. On
// failure its replicas are stopped and the app is as it was.
func (e *Env) rollOut(ctx context.Context, a *appRuntime, entry *spec.AppEntry) (*revisionRuntime, error) {
	return e.launch(ctx, a, entry, "")
}

// launch is rollOut of a revision named name, when given, rather than as
// its template names it: an inactive revision started again, which goes
// among the others by the time it was created.
func (e *Env) launch(ctx context.Context, a *appRuntime, entry *spec.AppEntry, name string) (*revisionRuntime, error) {
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return nil, errStopping
	}
	rev, err := e.newRevision(a, entry)
	if err == nil {
		rev.state = revStarting
		if name == "" {
			a.revisions = append(a.revisions, rev)
		} else {
			rev.name, rev.created = name, e.revisionCreated(name)
			// Never after the latest, which new traffic goes to.
			i := slices.IndexFunc(a.revisions, func(r *revisionRuntime) bool { return r.created.After(rev.created) })
			if l := slices.Index(a.revisions, a.latestLocked()); i < 0 || l >= 0 && i > l {
				i = max(l, 0)
			}
			a.revisions = slices.Insert(a.revisions, i, rev)
		}
		a.dropInactiveLocked(rev.name)
	}
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*revisionRuntime, error) {
		e.stopRevision(rev, "its replicas were not ready", err)
		return nil, fmt.Errorf("new revision %s: %w", rev.name, err)
	}
	if err := e.build(ctx, a.name, entry); err != nil {
		return fail(err)
	}
	for i := range rev.wanted {
		if err := e.startReplica(ctx, rev, i); err != nil {
			return fail(err)
		}
	}
	if err := e.waitReady(ctx, rev); err != nil {
		return fail(err)
	}
	return rev, nil
}

// waitReady waits until every replica of rev is ready. It gives up when
// a replica's process exits first (its last lines say why), after the
// revision timeout, or when ctx ends or the environment stops.
func (e *Env) waitReady(ctx context.Context, rev *revisionRuntime) error {
	timeout := cmpOr(e.opts.RevisionTimeout, DefaultRevisionTimeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		e.mu.Lock()
		var waiting []string
		for _, r := range rev.replicas {
			if !r.ready {
				waiting = append(waiting, r.name)
			}
		}
		e.mu.Unlock()
		if len(waiting) == 0 {
			return nil
		}
		for _, name := range waiting {
			// An exit counts at once, not after the restart backoff.
			if st, ok := e.sup.Status(name); ok && (st.Restarts > 0 || st.State == supervisor.StateRestarting) {
				return fmt.Errorf("replica %s exited before it was ready (%s)%s", name, st.LastExit, lastLines(e.sup.Logs(name, 5)))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stopCh:
			return errStopping
		case <-deadline.C:
			if len(waiting) == 1 {
				return fmt.Errorf("replica %s was not ready within %s (see its probes)", waiting[0], timeout)
			}
			return fmt.Errorf("replicas %s were not ready within %s (see their probes)", strings.Join(waiting, ", "), timeout)
		case <-tick.C:
		}
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// lastLines renders a replica's last output lines for an error message.
func lastLines(lines []supervisor.LogLine) string {
	if len(lines) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; its last lines:")
	for _, l := range lines {
		b.WriteString("\n    ")
		b.WriteString(l.Text)
	}
	return b.String()
}

// retire stops revisions just taken out of the routing table, in the
// background: each waits until the requests the edge sent its replicas
// and the Dapr invocations made of them (as the table before the swap,
// old, lists them) have finished, at most its grace period, and then stops
// as at `cove down`, SIGTERM first and SIGKILL after the grace period.
// Env.stop waits for them.
func (e *Env) retire(old *routing.Table, revs []*revisionRuntime, why string) {
	for _, rev := range revs {
		var eps []routing.Endpoint
		if a, ok := old.App(rev.app.name); ok {
			if rr, ok := a.Revision(rev.name); ok {
				eps = rr.Endpoints
			}
		}
		e.retiring.Go(func() {
			e.drain(eps, rev.grace)
			e.stopRevision(rev, why, nil)
		})
	}
}

// drain waits until no edge request or Dapr invocation of eps is in
// flight, at most grace, or until the environment stops.
func (e *Env) drain(eps []routing.Endpoint, grace time.Duration) {
	if len(eps) == 0 {
		return
	}
	deadline := time.After(grace)
	wait := time.NewTimer(drainSettle)
	defer wait.Stop()
	for {
		select {
		case <-e.stopCh:
			return
		case <-deadline:
			return
		case <-wait.C:
		}
		busy := false
		for _, ep := range eps {
			if ep.InFlight() > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		wait.Reset(20 * time.Millisecond)
	}
}

// stopRevision stops a revision's replicas and their sidecars and forgets
// the revision. failed is why a revision stops that never served, if so.
func (e *Env) stopRevision(rev *revisionRuntime, why string, failed error) {
	e.mu.Lock()
	rev.state = revStopping
	reps := slices.Clone(rev.replicas)
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), rev.grace+10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range reps {
		wg.Go(func() {
			r.stopSubscriptions()
			if err := e.sup.Stop(ctx, r.name); err != nil && !errors.Is(err, supervisor.ErrNotFound) {
				e.log.Warn("stop replica", "replica", r.name, "err", err)
			}
			if err := r.closeSidecar(ctx); err != nil {
				e.log.Warn("stop sidecar", "replica", r.name, "err", err)
			}
		})
	}
	wg.Wait()
	e.mu.Lock()
	for _, r := range reps {
		delete(e.replicas, r.name)
	}
	a := rev.app
	a.revisions = slices.DeleteFunc(a.revisions, func(r *revisionRuntime) bool { return r == rev })
	stopping := e.stopping
	if failed == nil && !stopping {
		a.keepInactiveLocked(rev)
	}
	e.mu.Unlock()
	if stopping {
		return
	}
	e.opts.Events(Event{Kind: EventRevision, App: a.name, Message: fmt.Sprintf("revision %s stopped: %s", rev.name, why), Err: failed})
}
