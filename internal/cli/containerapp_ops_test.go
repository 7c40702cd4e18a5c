package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/spec"
)

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"words", "curl -s  localhost:3500/v1.0/healthz", []string{"curl", "-s", "localhost:3500/v1.0/healthz"}},
		{"single quotes keep everything", `sh -c 'echo "$HOME" \n'`, []string{"sh", "-c", `echo "$HOME" \n`}},
		{"double quotes and escapes", `echo "a b" c\ d ""`, []string{"echo", "a b", "c d", ""}},
		{"empty", "  ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitCommand(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("splitCommand(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	for _, in := range []string{`echo 'a`, `echo "a`, `echo a\`} {
		if _, err := splitCommand(in); err == nil {
			t.Errorf("splitCommand(%q): no error", in)
		}
	}
}

func TestAzLog(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	l := control.LogEntry{Time: at, Replica: "pod--v2-1", Container: "logger", Stream: "stdout", Text: "logger: started"}
	b, err := json.Marshal(azLog("pod", l))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"TimeStamp":"2026-01-02T02:04:05.0000006Z","Log":"started","Stream":"stdout","ContainerAppName":"pod",` +
		`"RevisionName":"pod--v2","ReplicaName":"pod--v2-1","ContainerName":"logger"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestLabels(t *testing.T) {
	traffic := []spec.TrafficWeight{
		{LatestRevision: true, Weight: 80, Label: "green"},
		{RevisionName: "web--v1", Weight: 20, Label: "blue"},
		{RevisionName: "web--v0"},
	}
	// The label leaves green's entry and goes on v0's, which has none.
	got := addLabel(slices.Clone(traffic), "green", "web--v0")
	want := []spec.TrafficWeight{
		{LatestRevision: true, Weight: 80},
		{RevisionName: "web--v1", Weight: 20, Label: "blue"},
		{RevisionName: "web--v0", Label: "green"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("addLabel (-want +got):\n%s", diff)
	}
	// v1's entry has a label: a new entry of weight 0 takes the other.
	got = addLabel(slices.Clone(traffic), "canary", "web--v1")
	if diff := cmp.Diff(append(slices.Clone(traffic), spec.TrafficWeight{RevisionName: "web--v1", Label: "canary"}), got); diff != "" {
		t.Errorf("addLabel of a second label (-want +got):\n%s", diff)
	}
	got, err := swapLabels("web", slices.Clone(traffic), "green", "blue")
	if err != nil {
		t.Fatal(err)
	}
	want = []spec.TrafficWeight{
		{RevisionName: "web--v1", Weight: 80, Label: "green"},
		{LatestRevision: true, Weight: 20, Label: "blue"},
		{RevisionName: "web--v0"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("swapLabels (-want +got):\n%s", diff)
	}
	if _, err := swapLabels("web", traffic, "green", "red"); err == nil || !strings.Contains(err.Error(), `app web has no label "red"`) {
		t.Errorf("swap with a missing label: %v", err)
	}
}
