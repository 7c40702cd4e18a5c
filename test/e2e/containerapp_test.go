package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/spec"
)

// TestContainerApp reads a running triage environment with the az-shaped
// verbs: what they print, in each format, with --query, and their errors.
func TestContainerApp(t *testing.T) {
	dir := copyExample(t, "triage")
	e := up(t, filepath.Join(dir, "cove.yaml"))

	t.Run("show --query properties.configuration.dapr", func(t *testing.T) {
		out, err := e.cove("containerapp", "show", "-n", "triage-backend", "--query", "properties.configuration.dapr")
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		want := map[string]any{"enabled": true, "appId": "triage-backend", "appPort": 8000.0, "appProtocol": "http"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dapr (-want +got):\n%s", diff)
		}
	})

	t.Run("show -o yaml is an app file", func(t *testing.T) {
		out, err := e.cove("containerapp", "show", "-n", "triage-backend", "-o", "yaml", "-g", "my-rg", "--environment", "triage")
		if err != nil {
			t.Fatal(err)
		}
		app, probs := spec.ParseContainerApp("show.yaml", []byte(out))
		if probs.Err() != nil {
			t.Fatalf("show -o yaml does not parse back: %v\n%s", probs, out)
		}
		p := app.Properties
		if p.LatestRevisionName == "" || p.LatestRevisionName != p.LatestReadyRevisionName || p.RunningStatus != "Running" ||
			p.Configuration.Ingress.FQDN != "triage-backend.internal.localhost" || p.Template.Scale.MinReplicas != 2 {
			t.Errorf("show -o yaml:\n%s", out)
		}
	})

	t.Run("list, revisions and replicas", func(t *testing.T) {
		out, err := e.cove("containerapp", "list", "-o", "table")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"Name", "Fqdn", "triage-backend.internal.localhost", "triage-frontend.localhost", "triage-notifier"} {
			if !strings.Contains(out, s) {
				t.Errorf("containerapp list -o table lacks %q:\n%s", s, out)
			}
		}
		out, err = e.cove("containerapp", "revision", "list", "-n", "triage-backend", "--query", "[].[properties.active, properties.runningState, properties.trafficWeight]", "-o", "tsv")
		if err != nil {
			t.Fatal(err)
		}
		if out != "True\tRunning\t100\n" {
			t.Errorf("revision list as tsv = %q", out)
		}
		out, err = e.cove("containerapp", "replica", "list", "-n", "triage-backend", "--query", "[].properties.runningState", "-o", "tsv")
		if err != nil {
			t.Fatal(err)
		}
		if out != "Running\nRunning\n" {
			t.Errorf("replica list = %q, want two running replicas", out)
		}
		out, err = e.cove("containerapp", "ingress", "traffic", "show", "-n", "triage-frontend")
		if err != nil {
			t.Fatal(err)
		}
		var traffic []spec.TrafficWeight
		if err := json.Unmarshal([]byte(out), &traffic); err != nil || len(traffic) != 1 || !traffic[0].LatestRevision || traffic[0].Weight != 100 {
			t.Errorf("traffic show = %s (%v), want the latest revision at 100", out, err)
		}
	})

	t.Run("env and components", func(t *testing.T) {
		out, err := e.cove("env", "show", "--query", "properties.defaultDomain", "-o", "tsv")
		if err != nil || out != "localhost\n" {
			t.Errorf("env show = %q, %v", out, err)
		}
		out, err = e.cove("env", "dapr-component", "list", "-o", "table")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"ComponentType", "statestore", "state.sqlite", "pubsub"} {
			if !strings.Contains(out, s) {
				t.Errorf("env dapr-component list -o table lacks %q:\n%s", s, out)
			}
		}
		out, err = e.cove("containerapp", "env", "dapr-component", "show", "--dapr-component-name", "statestore", "--query", "properties.scopes[0]", "-o", "tsv")
		if err != nil || out != "triage-backend\n" {
			t.Errorf("dapr-component show = %q, %v", out, err)
		}
	})

	t.Run("shell completion of app names", func(t *testing.T) {
		out, err := exec.Command(coveBin, "__complete", "containerapp", "show", "-f", e.file, "-n", "").Output()
		if err != nil || !strings.HasPrefix(string(out), "triage-backend\ntriage-frontend\ntriage-notifier\n:4\n") {
			t.Errorf("completion of -n: %v\n%s", err, out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for args, want := range map[string]string{
			"containerapp show -n nope":                                "(ResourceNotFound) The Resource 'Microsoft.App/containerApps/nope'",
			"containerapp show -n triage-backend -o xml":               `unknown output format "xml"`,
			"containerapp show -n triage-backend --query [":            `--query "["`,
			"containerapp replica list -n triage-backend --revision x": "Microsoft.App/containerApps/revisions/x",
			"containerapp ingress show -n triage-notifier -o none":     "",
		} {
			_, err := e.cove(strings.Fields(args)...)
			switch {
			case want == "" && err != nil:
				t.Errorf("cove %s: %v", args, err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Errorf("cove %s: %v, want an error with %q", args, err, want)
			}
		}
	})
}

// TestContainerAppUpdate changes an app with `cove containerapp update`:
// a new revision runs the change, the app's file records it, and it is
// still there after a restart; writers with a stale ETag get 412.
func TestContainerAppUpdate(t *testing.T) {
	dir := copyExample(t, "triage")
	file := filepath.Join(dir, "cove.yaml")
	e := up(t, file)

	out, err := e.cove("containerapp", "update", "-n", "triage-backend", "--set-env-vars", "GREETING=hello", "TOKEN=secretref:nope",
		"--min-replicas", "1", "--max-replicas", "1", "--revision-suffix", "v2", "-o", "none")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("an update naming a missing secret: %v\n%s", err, out)
	}
	if _, err := e.cove("containerapp", "update", "-n", "triage-backend", "--set-env-vars", "GREETING=hello", "REGION=local",
		"--min-replicas", "1", "--max-replicas", "1", "--revision-suffix", "v2", "-o", "none"); err != nil {
		t.Fatal(err)
	}
	check := func(e *env) {
		t.Helper()
		out, err := e.cove("containerapp", "show", "-n", "triage-backend", "--query",
			"[properties.latestReadyRevisionName, properties.template.scale.maxReplicas, length(properties.template.containers[0].env)]", "-o", "tsv")
		if err != nil || out != "triage-backend--v2\n1\n3\n" {
			t.Errorf("after the update: %q, %v; want revision v2 with 1 replica and 3 variables", out, err)
		}
		out, err = e.cove("containerapp", "replica", "list", "-n", "triage-backend", "--query", "length(@)")
		if err != nil || strings.TrimSpace(out) != "1" {
			t.Errorf("replicas: %q, %v; want 1", out, err)
		}
		out, err = e.cove("exec", "triage-backend", "--", "sh", "-c", "echo $GREETING $REGION")
		if err != nil || strings.TrimSpace(out) != "hello local" {
			t.Errorf("the replica's environment: %q, %v", out, err)
		}
	}
	check(e)
	data, err := os.ReadFile(filepath.Join(dir, "backend", "containerapp.yaml"))
	if err != nil || !strings.Contains(string(data), "# The triage API") || !strings.Contains(string(data), "value: hello") {
		t.Errorf("the app's file after the update (%v):\n%s", err, data)
	}

	t.Run("stale ETags", func(t *testing.T) {
		c := control.NewClient(file)
		var app spec.ContainerApp
		etag, err := c.ARMWithETag(t.Context(), "/containerApps/triage-notifier", &app)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for _, v := range []string{"a", "b"} {
			patch := map[string]any{"properties": map[string]any{"template": map[string]any{"revisionSuffix": "r" + v}}}
			go func() {
				_, err := c.ARMPatch(t.Context(), "/containerApps/triage-notifier", etag, patch, &spec.ContainerApp{})
				errs <- err
			}()
		}
		var ok, stale int
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ok++
			case strings.Contains(err.Error(), "PreconditionFailed"):
				stale++
			default:
				t.Error(err)
			}
		}
		if ok != 1 || stale != 1 {
			t.Errorf("%d updates applied and %d refused as stale; want one of each", ok, stale)
		}
	})

	e.stop()
	check(up(t, file))
}
