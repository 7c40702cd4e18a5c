package control

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
)

func TestAssignTraffic(t *testing.T) {
	type rev struct {
		name   string
		weight int
		labels []string
	}
	tests := []struct {
		name    string
		mode    string
		ingress bool
		traffic []spec.TrafficWeight
		running []string // oldest first; the last is the latest
		want    []rev    // active afterwards, oldest first
		retired []string
		warns   int
	}{
		{
			name: "no traffic: the latest takes all", mode: "Single", ingress: true,
			running: []string{"web--a"}, want: []rev{{name: "web--a", weight: 100}},
		},
		{
			name: "at cove up only the latest runs: a named revision's weight and label go to it", mode: "Multiple", ingress: true,
			traffic: []spec.TrafficWeight{{RevisionName: "web--old", Weight: 80, Label: "stable"}, {LatestRevision: true, Weight: 20, Label: "canary"}},
			running: []string{"web--a"}, want: []rev{{name: "web--a", weight: 100, labels: []string{"stable", "canary"}}}, warns: 1,
		},
		{
			name: "multiple: split between a named revision and the latest", mode: "Multiple", ingress: true,
			traffic: []spec.TrafficWeight{{RevisionName: "web--a", Weight: 80}, {LatestRevision: true, Weight: 20}},
			running: []string{"web--a", "web--b"}, want: []rev{{name: "web--a", weight: 80}, {name: "web--b", weight: 20}},
		},
		{
			name: "multiple: a label keeps a revision without weight; one with neither stops", mode: "Multiple", ingress: true,
			traffic: []spec.TrafficWeight{{RevisionName: "web--b", Weight: 0, Label: "blue"}, {LatestRevision: true, Weight: 100}},
			running: []string{"web--a", "web--b", "web--c"}, want: []rev{{name: "web--b", labels: []string{"blue"}}, {name: "web--c", weight: 100}},
			retired: []string{"web--a"},
		},
		{
			name: "labels mode: entries place their labels on the revisions they name", mode: "Labels", ingress: true,
			traffic: []spec.TrafficWeight{{RevisionName: "web--a", Weight: 50, Label: "prod"}, {LatestRevision: true, Weight: 50, Label: "next"}},
			running: []string{"web--a", "web--b"}, want: []rev{{name: "web--a", weight: 50, labels: []string{"prod"}}, {name: "web--b", weight: 50, labels: []string{"next"}}},
		},
		{
			name: "single: only the latest stays", mode: "Single", ingress: true,
			traffic: []spec.TrafficWeight{{RevisionName: "web--a", Weight: 0, Label: "old"}, {LatestRevision: true, Weight: 100}},
			running: []string{"web--a", "web--b"}, want: []rev{{name: "web--b", weight: 100, labels: []string{"old"}}},
			retired: []string{"web--a"}, warns: 1,
		},
		{
			name: "no ingress: traffic does not count", mode: "Multiple",
			traffic: []spec.TrafficWeight{{RevisionName: "web--a", Weight: 100}},
			running: []string{"web--a", "web--b"}, want: []rev{{name: "web--b", weight: 100}},
			retired: []string{"web--a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := &Env{plane: &plane{log: slog.New(slog.NewTextHandler(&logs, nil))}}
			a := &appRuntime{name: "web", mode: tt.mode, traffic: tt.traffic, warned: map[string]bool{}}
			if tt.ingress {
				a.ingress = &routing.Ingress{External: true, TargetPort: 8080}
			}
			for _, n := range tt.running {
				a.revisions = append(a.revisions, &revisionRuntime{app: a, name: n, state: revActive})
			}
			var retired []string
			for _, r := range e.assignTrafficLocked(a, nil) {
				retired = append(retired, r.name)
				if r.state != revStopping {
					t.Errorf("retired %s is %s", r.name, r.state)
				}
			}
			var got []rev
			for _, r := range a.revisions {
				if r.state == revActive {
					got = append(got, rev{r.name, r.weight, r.labels})
				}
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(rev{})); diff != "" {
				t.Errorf("active revisions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.retired, retired); diff != "" {
				t.Errorf("retired (-want +got):\n%s", diff)
			}
			// The warning is given once, however often traffic is assigned.
			e.assignTrafficLocked(a, nil)
			if n := strings.Count(logs.String(), "names a revision cove does not run"); n != tt.warns {
				t.Errorf("%d warnings, want %d:\n%s", n, tt.warns, logs.String())
			}
		})
	}
}

// TestLabelsModeMovesLabels assigns the traffic of an app in Labels mode
// as reloads would, step by step: each new revision takes the target
// label, weights follow their labels, a revision no label or weight keeps
// stops, and a traffic entry moves its label only when it changes.
func TestLabelsModeMovesLabels(t *testing.T) {
	type rev struct {
		name   string
		weight int
		labels []string
	}
	split := []spec.TrafficWeight{{Label: "prod", Weight: 80}, {Label: "stage", Weight: 20}}
	promoted := []spec.TrafficWeight{{RevisionName: "web--v3", Label: "prod", Weight: 80}, {Label: "stage", Weight: 20}}
	steps := []struct {
		name    string
		fresh   string // a new revision, the latest
		traffic []spec.TrafficWeight
		target  string
		want    []rev // active afterwards, oldest first
		retired []string
	}{
		{name: "at cove up every label is on the one revision", traffic: split, target: "stage",
			want: []rev{{"web--v1", 100, []string{"prod", "stage"}}}},
		{name: "the new revision takes the target label and its weight", fresh: "web--v2", traffic: split, target: "stage",
			want: []rev{{"web--v1", 80, []string{"prod"}}, {"web--v2", 20, []string{"stage"}}}},
		{name: "the revision the label left stops", fresh: "web--v3", traffic: split, target: "stage",
			want: []rev{{"web--v1", 80, []string{"prod"}}, {"web--v3", 20, []string{"stage"}}}, retired: []string{"web--v2"}},
		{name: "an entry naming another revision moves its label there", traffic: promoted, target: "stage",
			want: []rev{{"web--v3", 100, []string{"prod", "stage"}}}, retired: []string{"web--v1"}},
		{name: "an unchanged entry leaves its label where it is", fresh: "web--v4", traffic: promoted, target: "stage",
			want: []rev{{"web--v3", 80, []string{"prod"}}, {"web--v4", 20, []string{"stage"}}}},
		{name: "a target label no entry names keeps its revision without weight", fresh: "web--v5",
			traffic: []spec.TrafficWeight{{Label: "prod", Weight: 100}}, target: "next",
			want: []rev{{"web--v3", 100, []string{"prod"}}, {"web--v5", 0, []string{"next"}}}, retired: []string{"web--v4"}},
	}
	e := &Env{plane: &plane{log: slog.New(slog.DiscardHandler)}}
	a := &appRuntime{name: "web", mode: "Labels", warned: map[string]bool{}, ingress: &routing.Ingress{External: true, TargetPort: 8080}}
	a.revisions = []*revisionRuntime{{app: a, name: "web--v1", state: revActive}}
	for _, st := range steps {
		a.traffic, a.targetLabel = st.traffic, st.target
		var fresh *revisionRuntime
		if st.fresh != "" {
			fresh = &revisionRuntime{app: a, name: st.fresh, state: revActive}
			a.revisions = append(a.revisions, fresh)
		}
		var retired []string
		for _, r := range e.assignTrafficLocked(a, fresh) {
			retired = append(retired, r.name)
		}
		var got []rev
		for _, r := range a.revisions {
			if r.state == revActive {
				got = append(got, rev{r.name, r.weight, r.labels})
			}
		}
		if diff := cmp.Diff(st.want, got, cmp.AllowUnexported(rev{})); diff != "" {
			t.Errorf("%s: active revisions (-want +got):\n%s", st.name, diff)
		}
		if diff := cmp.Diff(st.retired, retired); diff != "" {
			t.Errorf("%s: retired (-want +got):\n%s", st.name, diff)
		}
		a.revisions = slices.DeleteFunc(a.revisions, func(r *revisionRuntime) bool { return r.state != revActive })
	}
}

func TestRevisionScope(t *testing.T) {
	parse := func(yaml string) *spec.ContainerApp {
		t.Helper()
		app, probs := spec.ParseContainerApp("web.yaml", []byte(yaml))
		if len(probs.Errors()) > 0 {
			t.Fatal(probs)
		}
		return app
	}
	const base = `
name: web
properties:
  configuration:
    ingress: {external: true, targetPort: 8080}
  template:
    containers: [{name: web, image: web, env: [{name: A, value: "1"}]}]
`
	entry := func(yaml string, mod func(*spec.AppEntry)) *spec.AppEntry {
		e := &spec.AppEntry{App: parse(yaml), Command: []string{"./web"}, Dir: "/src/web", Env: map[string]string{"X": "1"}}
		if mod != nil {
			mod(e)
		}
		return e
	}
	cur := entry(base, nil)
	tests := []struct {
		name        string
		next        *spec.AppEntry
		newRevision bool
		sameSuffix  bool
	}{
		{name: "unchanged", next: entry(base, nil), sameSuffix: true},
		{name: "ingress only", next: entry(strings.Replace(base, "external: true", "external: false", 1), nil), sameSuffix: true},
		{name: "activeRevisionsMode only", next: entry(strings.Replace(base, "    ingress:", "    activeRevisionsMode: multiple\n    ingress:", 1), nil), sameSuffix: true},
		{name: "template env", next: entry(strings.Replace(base, `value: "1"`, `value: "2"`, 1), nil), newRevision: true},
		{name: "command in cove.yaml", next: entry(base, func(e *spec.AppEntry) { e.Command = []string{"./web", "-v"} }), newRevision: true},
		{name: "env in cove.yaml", next: entry(base, func(e *spec.AppEntry) { e.Env = map[string]string{"X": "2"} }), newRevision: true},
		// Where the environment lives is not part of the revision's name.
		{name: "directory", next: entry(base, func(e *spec.AppEntry) { e.Dir = "/elsewhere/web" }), newRevision: true, sameSuffix: true},
		{name: "a local secret value", next: entry(base, func(e *spec.AppEntry) { e.Secrets = map[string]string{"s": "v"} }), newRevision: true, sameSuffix: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := !bytes.Equal(revisionScope(cur), revisionScope(tt.next)); got != tt.newRevision {
				t.Errorf("new revision = %t, want %t", got, tt.newRevision)
			}
			if got := revisionSuffix(cur) == revisionSuffix(tt.next); got != tt.sameSuffix {
				t.Errorf("same suffix = %t (%s, %s), want %t", got, revisionSuffix(cur), revisionSuffix(tt.next), tt.sameSuffix)
			}
		})
	}
	withSuffix := entry(strings.Replace(base, "  template:\n", "  template:\n    revisionSuffix: v2\n", 1), nil)
	if s := revisionSuffix(withSuffix); s != "v2" {
		t.Errorf("revisionSuffix with template.revisionSuffix v2 = %q", s)
	}
}

func TestNewRevisionNameIsUnique(t *testing.T) {
	app, probs := spec.ParseContainerApp("web.yaml", []byte(`
name: web
properties:
  template:
    revisionSuffix: v1
    containers: [{name: web, image: web}]
`))
	if len(probs.Errors()) > 0 {
		t.Fatal(probs)
	}
	e := &Env{plane: &plane{log: slog.New(slog.DiscardHandler)}}
	a := &appRuntime{name: "web"}
	var names []string
	for range 3 {
		rev, err := e.newRevision(a, &spec.AppEntry{App: app})
		if err != nil {
			t.Fatal(err)
		}
		a.revisions = append(a.revisions, rev)
		names = append(names, rev.name)
	}
	if diff := cmp.Diff([]string{"web--v1", "web--v1-2", "web--v1-3"}, names); diff != "" {
		t.Errorf("names of three revisions with one suffix (-want +got):\n%s", diff)
	}
}
