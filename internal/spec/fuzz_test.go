package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fuzzers check the parsers' contract on any input: no panic, and either
// a result or problems that each point at a line of a named file.

func addSeedFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkParsed asserts the contract for one parse.
func checkParsed(t *testing.T, ok bool, probs Problems) {
	t.Helper()
	if !ok && probs.Err() == nil {
		t.Fatalf("no result and no errors; problems: %v", probs)
	}
	if ok && probs.Err() != nil {
		t.Fatalf("a result with errors: %v", probs)
	}
	for _, p := range probs {
		if p.File == "" || p.Line < 1 || p.Message == "" {
			t.Fatalf("problem without file, line or message: %#v", p)
		}
	}
}

func FuzzParseContainerApp(f *testing.F) {
	addSeedFiles(f, "testdata/triage/*/containerapp.yaml")
	addSeedFiles(f, "testdata/files/*.yaml")
	addSeedFiles(f, "testdata/fuzz-seeds/app-*.yaml")
	f.Add([]byte("name: app\ntemplate: {containers: [{name: a, image: a}]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("<<: {name: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		app, probs := ParseContainerApp("f.yaml", data)
		checkParsed(t, app != nil, probs)
		if app == nil {
			return
		}
		if app.Properties.Configuration == nil || app.Properties.Template == nil || app.Properties.Template.Scale == nil {
			t.Fatalf("parsed app without configuration, template or scale")
		}
		// A valid app's JSON form (what the management API serves) is a
		// valid app file that parses to the same app.
		js, err := json.Marshal(app)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, probs := ParseContainerApp("f.json", js)
		if again == nil {
			t.Fatalf("JSON form does not parse:\n%s\n%v", js, probs)
		}
		if diff := cmp.Diff(app, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("JSON round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseComponent(f *testing.F) {
	addSeedFiles(f, "testdata/triage/components/*.yaml")
	addSeedFiles(f, "testdata/fuzz-seeds/component-*.yaml")
	f.Add([]byte("componentType: state.redis\nversion: v1\nserviceComponentBind: {name: r}\n"))
	f.Add([]byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {type: state.redis, version: v1, metadata: [{name: a, value: {b: [1]}}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, probs := ParseComponent("f.yaml", data)
		checkParsed(t, c != nil, probs)
		if c != nil {
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}

// FuzzLoad fuzzes the environment file over a fixed set of app and component
// files.
func FuzzLoad(f *testing.F) {
	addSeedFiles(f, "testdata/triage/cove.yaml")
	addSeedFiles(f, "testdata/fuzz-seeds/cove-*.yaml")
	f.Add([]byte("apps:\n  - {file: backend.yaml, command: ./b, secrets: {pw: x}}\ncomponents:\n  - {name: statestore, file: redis.yaml}\n  - {file: pubsub.yaml}\n"))
	f.Add([]byte("apps:\n  - {file: tcp.yaml, command: [a, b]}\n  - {file: tcp.yaml, command: a, dir: sub}\nedge: {httpPort: 15432}\n"))
	f.Add([]byte("apps:\n  - {file: /dev/zero, command: x}\n  - {file: sub, command: x}\n"))
	dir := f.TempDir()
	for name, content := range map[string]string{
		"backend.yaml": backendApp + "  volumes: []\n",
		"tcp.yaml":     tcpApp("pg", 15432),
		"redis.yaml":   redisACA + "scopes: [backend, nobody]\nsecretStoreComponent: pubsub\n",
		"pubsub.yaml":  "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pubsub}\nspec: {type: pubsub.redis, version: v1}\n",
		"sub/x.txt":    "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	// Calls of the fuzz function run one at a time within a worker process,
	// and each worker has its own directory, so cove.yaml is rewritten in
	// place: a fresh directory per input would make fuzzing crawl.
	envFile := filepath.Join(dir, "cove.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(envFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		env, err := Load(envFile)
		var probs Problems
		if err != nil && !errors.As(err, &probs) {
			t.Fatalf("Load returned %T: %v", err, err)
		}
		if env != nil {
			probs = env.Warnings
		}
		checkParsed(t, env != nil, probs)
		if env != nil {
			if _, err := json.Marshal(env); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}
