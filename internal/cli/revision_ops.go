package cli

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/spec"
)

// newRevisionOpCmd is `revision activate|deactivate|restart`: a POST of
// the operation on the revision.
func newRevisionOpCmd(op, short, long string) *cobra.Command {
	var file, name, revision string
	cmd := &cobra.Command{
		Use:   op + " -n NAME --revision REVISION",
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			return client.ARMPost(cmd.Context(), "/containerApps/"+url.PathEscape(name)+"/revisions/"+url.PathEscape(revision)+"/"+op, nil)
		},
	}
	nameFlag(cmd, &name, "the app's name")
	revisionFlag(cmd, &revision, "the revision's name")
	_ = cmd.MarkFlagRequired("revision")
	runningFileFlag(cmd, &file)
	azIgnoredFlags(cmd)
	return cmd
}

var trafficCols = []tableCol{
	{"RevisionName", "revisionName"}, {"LatestRevision", "latestRevision"}, {"Label", "label"}, {"Weight", "weight"},
}

// trafficPatch is the merge patch that sets an app's ingress traffic.
func trafficPatch(traffic []spec.TrafficWeight) map[string]any {
	return configPatch(map[string]any{"ingress": map[string]any{"traffic": traffic}})
}

// appTraffic is an app's ingress traffic as ARM shows it (ACA's default
// when the file gives none), or an error when it has no ingress.
func appTraffic(app *spec.ContainerApp) ([]spec.TrafficWeight, error) {
	c := app.Properties.Configuration
	if c == nil || c.Ingress == nil {
		return nil, fmt.Errorf("app %s has no ingress, whose traffic holds the labels; give it one first", app.Name)
	}
	if len(c.Ingress.Traffic) == 0 {
		return []spec.TrafficWeight{{LatestRevision: true, Weight: 100}}, nil
	}
	return slices.Clone(c.Ingress.Traffic), nil
}

func showTraffic(app *spec.ContainerApp) any {
	t, _ := appTraffic(app)
	return t
}

// labelIndex is the index of the traffic entry with label, or an error
// that says where the labels are.
func labelIndex(app string, traffic []spec.TrafficWeight, label string) (int, error) {
	i := slices.IndexFunc(traffic, func(tw spec.TrafficWeight) bool { return tw.Label == label })
	if i < 0 {
		return -1, fmt.Errorf("app %s has no label %q; `cove containerapp ingress traffic show -n %s` lists its labels", app, label, app)
	}
	return i, nil
}

// addLabel puts label on revision: on the traffic entry naming it when
// that has no label, else on a new entry of weight 0; the label leaves
// the entry it was on.
func addLabel(traffic []spec.TrafficWeight, label, revision string) []spec.TrafficWeight {
	for i := range traffic {
		if traffic[i].Label == label {
			traffic[i].Label = ""
		}
	}
	if i := slices.IndexFunc(traffic, func(tw spec.TrafficWeight) bool { return tw.RevisionName == revision && tw.Label == "" }); i >= 0 {
		traffic[i].Label = label
		return traffic
	}
	return append(traffic, spec.TrafficWeight{RevisionName: revision, Label: label})
}

// swapLabels swaps the revisions two labels are on; each label keeps its
// weight, as az's label swap.
func swapLabels(app string, traffic []spec.TrafficWeight, source, target string) ([]spec.TrafficWeight, error) {
	i, err := labelIndex(app, traffic, source)
	if err != nil {
		return nil, err
	}
	j, err := labelIndex(app, traffic, target)
	if err != nil {
		return nil, err
	}
	a, b := &traffic[i], &traffic[j]
	a.RevisionName, b.RevisionName = b.RevisionName, a.RevisionName
	a.LatestRevision, b.LatestRevision = b.LatestRevision, a.LatestRevision
	return traffic, nil
}

func newRevisionLabelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "label", Short: "Put traffic labels on revisions", Args: cobra.NoArgs}
	var addName, addLabelName, addRev string
	add := patchCmd("add -n NAME --label LABEL --revision REVISION", "Put a label on a revision (it leaves the revision it was on)",
		"  cove containerapp revision label add -n web --label canary --revision web--v2", trafficCols, &addName,
		func(_ *cobra.Command, app *spec.ContainerApp) (any, error) {
			t, err := appTraffic(app)
			if err != nil {
				return nil, err
			}
			return trafficPatch(addLabel(t, addLabelName, addRev)), nil
		}, showTraffic)
	add.Long = `Put a traffic label on a revision, as az containerapp revision label add:
the revision answers at <app>---<label>.<domain> too. The label is written into
the app's ingress traffic in its file (an entry of weight 0 when no entry names
the revision) and applied as cove reload applies it; it prints the traffic.`
	add.Flags().StringVar(&addLabelName, "label", "", "the label")
	revisionFlag(add, &addRev, "the revision to put it on")
	add.Flags().Bool("no-prompt", false, "accepted for az compatibility; cove does not prompt")
	add.Flags().BoolP("yes", "y", false, "accepted for az compatibility; cove does not prompt")
	_ = add.MarkFlagRequired("label")
	_ = add.MarkFlagRequired("revision")

	var rmName, rmLabel string
	rm := patchCmd("remove -n NAME --label LABEL", "Take a label off its revision",
		"  cove containerapp revision label remove -n web --label canary", trafficCols, &rmName,
		func(_ *cobra.Command, app *spec.ContainerApp) (any, error) {
			t, err := appTraffic(app)
			if err != nil {
				return nil, err
			}
			i, err := labelIndex(app.Name, t, rmLabel)
			if err != nil {
				return nil, err
			}
			t[i].Label = "" // the entry's revision keeps its weight
			return trafficPatch(t), nil
		}, showTraffic)
	rm.Flags().StringVar(&rmLabel, "label", "", "the label")
	_ = rm.MarkFlagRequired("label")

	var swName, source, target string
	sw := patchCmd("swap -n NAME --source LABEL --target LABEL", "Swap the revisions two labels are on, each label keeping its traffic weight",
		"  cove containerapp revision label swap -n web --source blue --target green", trafficCols, &swName,
		func(_ *cobra.Command, app *spec.ContainerApp) (any, error) {
			t, err := appTraffic(app)
			if err != nil {
				return nil, err
			}
			if t, err = swapLabels(app.Name, t, source, target); err != nil {
				return nil, err
			}
			return trafficPatch(t), nil
		}, showTraffic)
	sw.Flags().StringVar(&source, "source", "", "a label")
	sw.Flags().StringVar(&target, "target", "", "the other label")
	_ = sw.MarkFlagRequired("source")
	_ = sw.MarkFlagRequired("target")
	cmd.AddCommand(add, rm, sw)
	return cmd
}

// revisionModes are the values of --mode, as az takes them, and the
// activeRevisionsMode each writes.
var revisionModes = map[string]string{"single": "Single", "multiple": "Multiple", "labels": "Labels"}

func newRevisionSetModeCmd() *cobra.Command {
	var name, mode string
	cmd := patchCmd("set-mode -n NAME --mode single|multiple|labels", "Set the app's activeRevisionsMode",
		"  cove containerapp revision set-mode -n web --mode multiple", nil, &name,
		func(*cobra.Command, *spec.ContainerApp) (any, error) {
			m, ok := revisionModes[strings.ToLower(mode)]
			if !ok {
				return nil, fmt.Errorf("--mode %q: use single, multiple or labels", mode)
			}
			return configPatch(map[string]any{"activeRevisionsMode": m}), nil
		}, func(app *spec.ContainerApp) any { return app.Properties.Configuration.ActiveRevisionsMode })
	cmd.Long = `Set the app's activeRevisionsMode, as az containerapp revision set-mode: written
into the app's file and applied as cove reload applies it. Single runs the
latest revision only; Multiple keeps the revisions the traffic names active;
Labels sends traffic to labels. It prints the mode.`
	cmd.Flags().StringVar(&mode, "mode", "", "single, multiple or labels")
	_ = cmd.MarkFlagRequired("mode")
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"single", "multiple", "labels"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// addRevisionOps adds the revision verbs that change revisions.
func addRevisionOps(cmd *cobra.Command) {
	cmd.AddCommand(
		newRevisionOpCmd("activate", "Start an inactive revision again",
			`Start an inactive revision again, as az containerapp revision activate: one this
environment stopped since it started (cove up starts only the file's
template's). The revision is written into the app's ingress traffic with
weight 0, where cove keeps which revisions besides the latest are active, and
started as cove reload starts a new revision; it takes traffic once the
traffic gives it weight (cove containerapp ingress traffic set) or a label.
Needs activeRevisionsMode Multiple or Labels.`),
		newRevisionOpCmd("deactivate", "Stop an active revision, keeping it to activate later",
			`Stop an active revision, as az containerapp revision deactivate: its entry of
weight 0 leaves the app's ingress traffic in its file, and the revision stops
once its requests in flight have finished. It stays listed as inactive (revision
list --all) and can be activated again while the environment runs. A revision
with traffic or labels, or the latest, is refused: move them first.`),
		newRevisionOpCmd("restart", "Restart a revision's replicas",
			`Restart every replica of an active revision in place, as az containerapp
revision restart: each process stops gracefully (SIGTERM, then SIGKILL after
the grace period) and starts again at once, its name, ports and sidecar kept;
the edge sends it requests again once its probes pass.`),
		newRevisionLabelCmd(),
		newRevisionSetModeCmd(),
	)
}
