package e2e

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cove-env/cove/test/internal/testenv"
)

// TestValidateReportsEveryProblem checks that `cove validate` prints all
// three mistakes of the broken environment, each with file:line:column and
// the field path, and exits non-zero.
func TestValidateReportsEveryProblem(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "test", "e2e", "testdata", "broken")
	cmd := exec.Command(coveBin, "validate", "-f", filepath.Join(dir, "cove.yaml"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("cove validate: %v, want exit status 1\n%s", err, out.String())
	}
	for _, want := range []string{
		`app\.yaml:7:\d+: properties\.configuration\.ingress\.transport: .*htpp`,
		`app\.yaml:11:\d+: properties\.template\.containers\[0\]\.imagee: unknown field.*image`,
		`statestore\.yaml:5:\d+: metadata\[0\]\.secretRef: .*missing-secret`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks a line matching %s:\n%s", want, out.String())
		}
	}
}

// TestValidateExample checks that the shipped examples are valid.
func TestValidateExample(t *testing.T) {
	for _, f := range []string{"cove.yaml", "cove.redis.yaml"} {
		out, err := exec.Command(coveBin, "validate", "-f", filepath.Join(testenv.RepoRoot(), "examples", "triage", f)).CombinedOutput()
		if err != nil {
			t.Errorf("cove validate %s: %v\n%s", f, err, out)
		}
	}
}

// TestComponentKindsNotRunYet checks that `cove validate` and `cove up`
// agree on component types cove does not run yet: without ignoreErrors
// they are errors, with file and line, reported in the same pass as a typo
// in a type (named with the likely intended one) and a mistake in an app;
// with ignoreErrors they are warnings, and the environment starts without
// them.
func TestComponentKindsNotRunYet(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app := "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n"
	write("app.yaml", app+"    revisionSufix: x\n")
	write("pubsub.yaml", "componentType: pubsub.kafka\nversion: v1\nmetadata:\n  - {name: brokers, value: \"localhost:9092\"}\n")
	write("events.yaml", "componentType: bindings.kafka\nversion: v1\nignoreErrors: true\nmetadata:\n  - {name: brokers, value: \"localhost:9092\"}\n")
	write("store.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\nspec:\n  type: state.in-memroy\n  version: v1\n")
	write("cove.yaml", "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n  - {name: pubsub, file: pubsub.yaml}\n  - {name: events, file: events.yaml}\n  - {name: store, file: store.yaml}\n")
	file := filepath.Join(dir, "cove.yaml")

	out, err := exec.Command(coveBin, "validate", "-f", file).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("cove validate: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{
		`app\.yaml:7:\d+: properties\.template\.revisionSufix: unknown field; did you mean "revisionSuffix"`,
		`pubsub\.yaml:1:\d+: componentType: component type "pubsub\.kafka" is not supported yet by cove.*with ignoreErrors: true it is skipped`,
		`store\.yaml:6:\d+: spec\.type: unknown component type "state\.in-memroy"; did you mean "state\.in-memory"\?`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output lacks a line matching %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "events") {
		t.Errorf("the component with ignoreErrors is reported as an error:\n%s", out)
	}

	write("app.yaml", app)
	write("pubsub.yaml", "componentType: pubsub.kafka\nversion: v1\nignoreErrors: true\nmetadata:\n  - {name: brokers, value: \"localhost:9092\"}\n")
	write("store.yaml", "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\nspec:\n  type: state.in-memory\n  version: v1\n")
	out, err = exec.Command(coveBin, "validate", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("cove validate: %v\n%s", err, out)
	}
	for _, want := range []string{
		`pubsub\.yaml:1:\d+: componentType: warning: component type "pubsub\.kafka" is not supported yet by cove.*; it is skipped, as ignoreErrors is true`,
		`events\.yaml:1:\d+: componentType: warning: component type "bindings\.kafka" is not supported yet by cove`,
	} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("output lacks a line matching %s:\n%s", want, out)
		}
	}

	e := up(t, file)
	status := map[string]string{}
	for _, c := range e.status().Components {
		status[c.Name] = c.Status
	}
	if want := map[string]string{"pubsub": "failed", "events": "failed", "store": "loaded"}; !maps.Equal(status, want) {
		t.Errorf("components = %v, want %v", status, want)
	}
	e.stop()
}

// TestValidateNewKinds checks that `cove validate` takes the lock,
// configuration and output binding types cove runs, and names the intended
// one for a typo in each, with file and line.
func TestValidateNewKinds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.yaml", "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n")
	cove := "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n"
	good := []string{"lock.redis", "lock.in-memory", "configuration.redis", "configuration.postgresql", "bindings.http", "bindings.localstorage", "bindings.redis", "bindings.postgresql", "bindings.mysql", "bindings.cron", "bindings.rabbitmq", "bindings.mqtt3", "bindings.smtp"}
	for i, typ := range good {
		write("good"+string(rune('a'+i))+".yaml", "componentType: "+typ+"\nversion: v1\n")
		cove += "  - {name: good" + string(rune('a'+i)) + ", file: good" + string(rune('a'+i)) + ".yaml}\n"
	}
	write("cove.yaml", cove)
	if out, err := exec.Command(coveBin, "validate", "-f", filepath.Join(dir, "cove.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("cove validate with %v: %v\n%s", good, err, out)
	}
	typos := map[string]string{"lock.rediss": "lock.redis", "configuration.reddis": "configuration.redis", "bindings.htttp": "bindings.http"}
	for typ := range typos {
		write(typ+".yaml", "componentType: "+typ+"\nversion: v1\n")
		cove += "  - {name: " + strings.ReplaceAll(typ, ".", "-") + ", file: " + typ + ".yaml}\n"
	}
	write("cove.yaml", cove)
	out, err := exec.Command(coveBin, "validate", "-f", filepath.Join(dir, "cove.yaml")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("cove validate: %v, want exit status 1\n%s", err, out)
	}
	for typ, want := range typos {
		re := regexp.QuoteMeta(typ) + `\.yaml:1:\d+: componentType: unknown component type "` + regexp.QuoteMeta(typ) + `"; did you mean "` + regexp.QuoteMeta(want) + `"`
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("output lacks a line matching %s:\n%s", re, out)
		}
	}
}

// TestValidateCronSchedule: a cron binding's schedule that does not parse
// is a cove validate error at its line, saying what would.
func TestValidateCronSchedule(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"app.yaml":  "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n",
		"tick.yaml": "componentType: bindings.cron\nversion: v1\nmetadata:\n  - name: route\n    value: /tick\n  - name: schedule\n    value: every minute\n",
		"cove.yaml": "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n  - {name: tick, file: tick.yaml}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(coveBin, "validate", "-f", filepath.Join(dir, "cove.yaml")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("cove validate: %v, want exit status 1\n%s", err, out)
	}
	if re := `tick\.yaml:7:\d+: metadata\[1\]\.value: invalid schedule "every minute".*@every 15s`; !regexp.MustCompile(re).Match(out) {
		t.Errorf("output lacks a line matching %s:\n%s", re, out)
	}
}
