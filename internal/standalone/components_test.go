package standalone_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/standalone"
	"github.com/cove-env/cove/internal/testlog"
)

// TestComponentKindsNotRunYet checks that a Dapr component cove does not
// run yet stops the start, with its file and line, unless it says
// ignoreErrors; then it is skipped with a warning and the sidecar runs.
// A type nobody knows is named with the likely intended one, in the same
// report.
func TestComponentKindsNotRunYet(t *testing.T) {
	w := newWorld(t)
	res := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(res, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	component := func(name, typ string, ignore bool) string {
		s := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\nspec:\n  type: " + typ + "\n  version: v1\n"
		if ignore {
			s += "  ignoreErrors: true\n"
		}
		return s
	}
	write("kafka.yaml", component("kafka", "bindings.kafka", true))
	write("pubsub.yaml", component("pubsub", "pubsub.kafka", false))
	write("store.yaml", component("store", "state.sqlit", false))

	_, err := standalone.Start(t.Context(), standalone.Options{
		AppID: "alpha", ListenAddresses: []string{"127.0.0.1"}, CADir: w.caDir, NameResolutionFile: w.nrFile,
		ResourcesPaths: []string{res}, Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)),
	})
	if err == nil {
		t.Fatal("started with a pub/sub component that cove does not run and no ignoreErrors")
	}
	for _, want := range []string{
		filepath.Join(res, "pubsub.yaml") + `:6:3: spec.type: component type "pubsub.kafka" is not supported yet by cove`,
		filepath.Join(res, "store.yaml") + `:6:3: spec.type: unknown component type "state.sqlit"; did you mean "state.sqlite"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "bindings.kafka") {
		t.Errorf("error names the component with ignoreErrors:\n%v", err)
	}

	write("pubsub.yaml", component("pubsub", "pubsub.kafka", true))
	write("store.yaml", component("store", "state.in-memory", false))
	var logs testlog.Buffer
	w.start(t, "alpha", 0, func(o *standalone.Options) {
		o.ResourcesPaths = []string{res}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	for _, want := range []string{`component pubsub (pubsub.kafka) in ` + filepath.Join(res, "pubsub.yaml") + `:6: component type \"pubsub.kafka\" is not supported yet by cove`, "bindings.kafka"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}
