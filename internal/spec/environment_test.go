package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadTriage(t *testing.T) {
	env, err := Load("testdata/triage/cove.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir, err := filepath.Abs("testdata/triage")
	if err != nil {
		t.Fatal(err)
	}
	statestore, _ := ParseComponent("testdata/triage/components/statestore.yaml", mustRead(t, "testdata/triage/components/statestore.yaml"))
	statestore.Name = "statestore"
	pubsub, _ := ParseComponent("testdata/triage/components/pubsub.yaml", mustRead(t, "testdata/triage/components/pubsub.yaml"))
	want := &Environment{
		File: filepath.Join(dir, "cove.yaml"), Given: "testdata/triage/cove.yaml", Dir: dir, Name: "triage", Domain: "localhost",
		Edge: Edge{Address: "127.0.0.1", HTTPPort: 8080},
		Apps: []*AppEntry{
			{
				File: "backend/containerapp.yaml", Path: filepath.Join(dir, "backend/containerapp.yaml"),
				Build:   "go build -o .cove/bin/triage-backend ./backend",
				Runtime: RuntimeProcess, Command: []string{".cove/bin/triage-backend"}, Shell: false, Dir: dir,
				Env:     map[string]string{"LOG_LEVEL": "debug", "WORKERS": "4"},
				Secrets: map[string]string{"redis-password": "s3cret"},
				App:     triageBackend(),
			},
			{
				File: "frontend/containerapp.yaml", Path: filepath.Join(dir, "frontend/containerapp.yaml"),
				Runtime: RuntimeProcess, Command: []string{".cove/bin/triage-frontend", "--listen", ":80"}, Dir: filepath.Join(dir, "frontend"),
				App: triageFrontend(),
			},
		},
		Components: []*ComponentEntry{
			{Name: "statestore", File: "components/statestore.yaml", Path: filepath.Join(dir, "components/statestore.yaml"), Component: statestore},
			{Name: "pubsub", File: "components/pubsub.yaml", Path: filepath.Join(dir, "components/pubsub.yaml"), Component: pubsub},
		},
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	if v, ok := env.Apps[0].App.SecretValue("redis-password", env.Apps[0].Secrets); !ok || v != "s3cret" {
		t.Errorf("Key Vault secret with a local value = %q, %v", v, ok)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// loadIn writes files to a temporary directory, makes it the working
// directory, and loads cove.yaml from it, so problems name short paths.
func loadIn(t *testing.T, files map[string]string) (*Environment, Problems) {
	t.Helper()
	dir := writeFiles(t, files)
	t.Chdir(dir)
	env, err := Load("cove.yaml")
	var probs Problems
	if err != nil && !errors.As(err, &probs) {
		t.Fatalf("Load returned %T: %v", err, err)
	}
	if env != nil {
		probs = env.Warnings
	}
	return env, probs
}

// checkFileProblems is checkProblems with the file in front: "file:line:col path: fragment".
func checkFileProblems(t *testing.T, kind string, got Problems, want []string) {
	t.Helper()
	rendered := make([]string, len(got))
	for i, p := range got {
		rendered[i] = fmt.Sprintf("%s:%s", p.File, brief(p))
	}
	if len(got) != len(want) {
		t.Errorf("%s: got %d, want %d:\n  got:  %s\n  want: %s", kind, len(got), len(want),
			strings.Join(rendered, "\n        "), strings.Join(want, "\n        "))
		return
	}
	for i, w := range want {
		head, frag, _ := strings.Cut(w, ": ")
		if !strings.HasPrefix(rendered[i], head+": ") || !strings.Contains(got[i].Message, frag) {
			t.Errorf("%s %d:\n  got  %s\n  want %s", kind, i, rendered[i], w)
		}
	}
}

const (
	backendApp  = "name: backend\nconfiguration:\n  ingress: {targetPort: 8000}\n  dapr: {enabled: true, appPort: 8000}\ntemplate:\n  containers: [{name: backend, image: backend}]\n"
	frontendApp = "name: frontend\nconfiguration:\n  ingress: {external: true, targetPort: 80}\n  dapr: {enabled: true, appPort: 80}\ntemplate:\n  containers: [{name: frontend, image: frontend}]\n"
	redisACA    = "componentType: state.redis\nversion: v1\nmetadata: [{name: redisHost, value: localhost:6379}]\n"
)

// tcpApp is an app with external TCP ingress on the given exposed port.
func tcpApp(name string, exposed int) string {
	return fmt.Sprintf("name: %s\nconfiguration:\n  ingress: {external: true, transport: tcp, targetPort: 5432, exposedPort: %d}\ntemplate:\n  containers: [{name: db, image: db}]\n", name, exposed)
}

func TestLoadRules(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		errors   []string // "file:line:col path: fragment"
		warnings []string
	}{
		{
			name: "a minimal environment",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    command: ./backend\n",
				"backend.yaml": backendApp,
			},
		},
		{
			name: "a process-mode app needs a command and says why",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    runtime: process\n",
				"backend.yaml": backendApp,
			},
			errors: []string{"cove.yaml:2:5 apps[0].command: required: a process-mode app needs a command saying how to run it, e.g. command: go run ./backend"},
		},
		{
			name: "a container-mode app takes no command or build",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    runtime: container\n    command: ./backend\n    build: make\n",
				"backend.yaml": backendApp,
			},
			errors: []string{
				"cove.yaml:4:5 apps[0].command: a container-mode app runs its images; remove the command",
				"cove.yaml:5:5 apps[0].build: a container-mode app runs its images as they are",
			},
		},
		{
			name: "an AzureFile volume needs a storage with a local directory",
			files: map[string]string{
				"cove.yaml": "apps:\n  - file: web.yaml\nstorages:\n  gone: ./nowhere\n",
				"web.yaml": "name: web\nproperties:\n  template:\n    containers: [{name: main, image: web:1}]\n" +
					"    volumes: [{name: files, storageType: AzureFile, storageName: share}]\n",
			},
			errors: []string{
				"cove.yaml:4:3 storages.gone: ./nowhere: no such file; create the directory or point the storage at one",
				`web.yaml:5:53 properties.template.volumes[0].storageName: storage "share" has no local directory; map it in cove.yaml, e.g. storages: {share: ./data}`,
			},
		},
		{
			name: "an unknown runtime",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    runtime: vm\n",
				"backend.yaml": backendApp,
			},
			errors: []string{`cove.yaml:3:5 apps[0].runtime: "vm" is not a runtime; use process`},
		},
		{
			name: "an empty command",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    command: []\n",
				"backend.yaml": backendApp,
			},
			errors: []string{"cove.yaml:3:5 apps[0].command: required: a process-mode app needs a command"},
		},
		{
			name: "missing files are reported where cove.yaml names them, as written",
			files: map[string]string{
				"cove.yaml": y(`
apps:
  - file: apps/nope.yaml
    command: ./nope
components:
  - name: statestore
    file: ./components/gone.yaml
`),
			},
			errors: []string{
				"cove.yaml:2:5 apps[0].file: apps/nope.yaml: no such file",
				"cove.yaml:6:5 components[0].file: ./components/gone.yaml: no such file",
			},
		},
		{
			name: "no apps",
			files: map[string]string{
				"cove.yaml": "name: empty\n",
			},
			errors: []string{"cove.yaml:1:1 apps: required: at least one app"},
		},
		{
			name: "unknown field in cove.yaml",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    comand: ./backend\n",
				"backend.yaml": backendApp,
			},
			errors: []string{
				`cove.yaml:3:5 apps[0].comand: unknown field; did you mean "command"?`,
			},
		},
		{
			name: "environment settings",
			files: map[string]string{
				"cove.yaml":    "name: My_Env\ndomain: Apps.Test\nedge: {address: somewhere, httpPort: 0}\napps:\n  - {file: backend.yaml, command: ./b}\n",
				"backend.yaml": backendApp,
			},
			errors: []string{
				`cove.yaml:1:1 name: "My_Env" is not a valid environment name`,
				`cove.yaml:2:1 domain: "Apps.Test" is not a lowercase DNS name`,
				`cove.yaml:3:8 edge.address: "somewhere" is not an IP address`,
				"cove.yaml:3:28 edge.httpPort: 0 is not a port number",
			},
		},
		{
			name: "request timeout that is not a duration",
			files: map[string]string{
				"cove.yaml":    "edge: {requestTimeout: forever}\napps:\n  - {file: backend.yaml, command: ./b}\n",
				"backend.yaml": backendApp,
			},
			errors: []string{`cove.yaml:1:8 edge.requestTimeout: "forever" is not a positive duration`},
		},
		{
			name: "https port equal to the http port",
			files: map[string]string{
				"cove.yaml":    "edge: {httpPort: 9000, httpsPort: 9000}\napps:\n  - {file: backend.yaml, command: ./b}\n",
				"backend.yaml": backendApp,
			},
			errors: []string{"cove.yaml:1:24 edge.httpsPort: 9000 is also edge.httpPort"},
		},
		{
			name: "a working directory that is not there",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b, dir: build/out}\n",
				"backend.yaml": backendApp,
			},
			errors: []string{"cove.yaml:2:40 apps[0].dir: build/out: no such file"},
		},
		{
			name: "problems in cove.yaml and in an app file are reported together",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b, env: {\"A=B\": x}}\n",
				"backend.yaml": "name: backend\ntemplate:\n  containers: [{name: backend}]\n",
			},
			errors: []string{
				`cove.yaml:2:46 apps[0].env["A=B"]: "A=B" is not an environment variable name`,
				"backend.yaml:3:16 template.containers[0].image: required: the container image",
			},
		},
		{
			name: "app names are unique",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b}\n  - {file: backend.yaml, command: ./b}\n",
				"backend.yaml": backendApp,
			},
			errors: []string{`cove.yaml:3:6 apps[1].file: app "backend" is already defined by backend.yaml`},
		},
		{
			name: "Dapr app ids are unique",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: a.yaml, command: ./a}\n  - {file: b.yaml, command: ./b}\n",
				"a.yaml":    "name: app-a\nconfiguration: {dapr: {enabled: true, appId: api}}\ntemplate: {containers: [{name: a, image: a}]}\n",
				"b.yaml":    "name: app-b\nconfiguration:\n  dapr:\n    enabled: true\n    appId: api\ntemplate: {containers: [{name: b, image: b}]}\n",
			},
			errors: []string{`b.yaml:5:5 configuration.dapr.appId: Dapr app id "api" is already used by app-a (a.yaml)`},
		},
		{
			name: "an app name defaulting to a Dapr app id can collide too",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: a.yaml, command: ./a}\n  - {file: b.yaml, command: ./b}\n",
				"a.yaml":    "name: api\nconfiguration: {dapr: {enabled: true}}\ntemplate: {containers: [{name: a, image: a}]}\n",
				"b.yaml":    "name: app-b\nconfiguration:\n  dapr: {enabled: true, appId: api}\ntemplate: {containers: [{name: b, image: b}]}\n",
			},
			errors: []string{`b.yaml:3:25 configuration.dapr.appId: Dapr app id "api" is already used by api (a.yaml)`},
		},
		{
			name: "external TCP ports are unique; internal ones may repeat",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: pg1.yaml, command: ./a}\n  - {file: pg2.yaml, command: ./b}\n  - {file: in1.yaml, command: ./c}\n  - {file: in2.yaml, command: ./d}\n",
				"pg1.yaml":  tcpApp("pg-one", 15432),
				"pg2.yaml":  tcpApp("pg-two", 15432),
				"in1.yaml":  strings.Replace(tcpApp("in-one", 6000), "external: true", "external: false", 1),
				"in2.yaml":  strings.Replace(tcpApp("in-two", 6000), "external: true", "external: false", 1),
			},
			errors: []string{"pg2.yaml:3:63 configuration.ingress.exposedPort: external port 15432 is already exposed by pg-one (pg1.yaml)"},
		},
		{
			name: "an additional external port cannot take the edge's port",
			files: map[string]string{
				"cove.yaml": "edge: {httpPort: 9090}\napps:\n  - {file: a.yaml, command: ./a}\n",
				"a.yaml":    "name: app-a\nconfiguration:\n  ingress:\n    targetPort: 80\n    additionalPortMappings: [{external: true, targetPort: 9090}]\ntemplate: {containers: [{name: a, image: a}]}\n",
			},
			errors: []string{"a.yaml:5:47 configuration.ingress.additionalPortMappings[0].targetPort: port 9090 is the edge's HTTP port"},
		},
		{
			name: "subscriptions: a bad rule names its file and line; a pub/sub no component names warns",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: backend.yaml, command: ./b}\ncomponents:\n  - {name: statestore, file: redis.yaml}\n" +
					"subscriptions:\n  - file: subs/orders.yaml\n  - file: subs/other.yaml\n",
				"backend.yaml": backendApp,
				"redis.yaml":   redisACA,
				"subs/orders.yaml": "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: orders}\n" +
					"spec:\n  pubsubname: statestore\n  topic: orders\n  routes:\n    rules:\n      - {match: 'event.type ==', path: /a}\n",
				"subs/other.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: other}\nspec: {pubsubname: pubsub, topic: t, route: /t}\n",
			},
			errors:   []string{`subs/orders.yaml:9:10 spec.routes.rules[0].match: "event.type ==" is not a CEL expression`},
			warnings: []string{`subs/other.yaml:4:19 spec.pubsubname: no component of the environment is named "pubsub"`},
		},
		{
			name: "component names are unique",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b}\ncomponents:\n  - {name: statestore, file: redis.yaml}\n  - {name: statestore, file: redis.yaml}\n",
				"backend.yaml": backendApp,
				"redis.yaml":   redisACA,
			},
			errors: []string{`cove.yaml:5:6 components[1].name: component "statestore" is already defined by redis.yaml`},
		},
		{
			name: "an ACA component needs its name in cove.yaml",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b}\ncomponents:\n  - file: redis.yaml\n",
				"backend.yaml": backendApp,
				"redis.yaml":   redisACA,
			},
			errors: []string{"cove.yaml:4:5 components[0].name: required: the component's name (an ACA component file has none"},
		},
		{
			name: "a Dapr component's name must match cove.yaml's",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b}\ncomponents:\n  - {name: cache, file: redis.yaml}\n",
				"backend.yaml": backendApp,
				"redis.yaml":   "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec: {type: state.redis, version: v1}\n",
			},
			errors: []string{`redis.yaml:4:3 metadata.name: "statestore" does not match the name "cache" the environment file gives this component`},
		},
		{
			name: "scopes naming no app id warn, with a suggestion",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b}\ncomponents:\n  - {name: statestore, file: redis.yaml}\n",
				"backend.yaml": backendApp,
				"redis.yaml":   redisACA + "scopes: [backend, backnd, reports]\n",
			},
			warnings: []string{
				`redis.yaml:4:19 scopes[1]: no app in the environment has Dapr app id "backnd", so the scope matches nothing; did you mean "backend"?`,
				`redis.yaml:4:27 scopes[2]: no app in the environment has Dapr app id "reports"`,
			},
		},
		{
			name: "a secret store must be a secret store component of the environment",
			files: map[string]string{
				"cove.yaml":    "apps:\n  - {file: backend.yaml, command: ./b}\ncomponents:\n  - {name: a, file: a.yaml}\n  - {name: b, file: b.yaml}\n",
				"backend.yaml": backendApp,
				"a.yaml":       redisACA + "secretStoreComponent: vault\n",
				"b.yaml":       redisACA + "secretStoreComponent: a\n",
			},
			errors: []string{
				`a.yaml:4:1 secretStoreComponent: no component named "vault" in the environment`,
				`b.yaml:4:1 secretStoreComponent: component "a" is a state.redis, not a secret store`,
			},
		},
		{
			name: "the app's name can come from cove.yaml",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {name: worker, file: w.yaml, command: ./w}\n",
				"w.yaml":    "template: {containers: [{name: w, image: w}]}\n",
			},
		},
		{
			name: "the app's name is needed somewhere, and must agree",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: w.yaml, command: ./w}\n  - {name: other, file: x.yaml, command: ./x}\n  - {name: Bad_Name, file: z.yaml, command: ./z}\n",
				"w.yaml":    "template: {containers: [{name: w, image: w}]}\n",
				"x.yaml":    "name: x-app\ntemplate: {containers: [{name: x, image: x}]}\n",
				"z.yaml":    "template: {containers: [{name: z, image: z}]}\n",
			},
			errors: []string{
				`cove.yaml:3:6 apps[1].name: "other" does not match the name "x-app" in x.yaml`,
				`cove.yaml:4:6 apps[2].name: "Bad_Name" is not a valid container app name`,
				"w.yaml:1:1 name: required: the container app's name; write it here or as name: in cove.yaml (apps[0])",
			},
		},
		{
			name: "local secrets must name the app's secrets",
			files: map[string]string{
				"cove.yaml": "apps:\n  - file: a.yaml\n    command: ./a\n    secrets: {db-pasword: x}\n",
				"a.yaml":    "name: app-a\nconfiguration: {secrets: [{name: db-password, value: v}]}\ntemplate: {containers: [{name: a, image: a}]}\n",
			},
			errors: []string{`cove.yaml:4:15 apps[0].secrets.db-pasword: a.yaml declares no secret "db-pasword"; did you mean "db-password"?`},
		},
		{
			name: "secrets without a readable value need a local one when used",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: a.yaml, command: ./a}\n",
				"a.yaml": y(`
name: app-a
configuration:
  secrets:
    - {name: from-vault, keyVaultUrl: "https://kv.vault.azure.net/secrets/x"}
    - {name: shown}
template:
  containers:
    - name: a
      image: a
      env: [{name: PW, secretRef: from-vault}]
`),
			},
			errors:   []string{`a.yaml:10:24 template.containers[0].env[0].secretRef: secret "from-vault" cannot be read locally (cove cannot read Azure Key Vault); give it a local value under apps[0].secrets in cove.yaml`},
			warnings: []string{`a.yaml:5:7 configuration.secrets[1]: secret "shown" cannot be read locally (it has no value); nothing uses it`},
		},
		{
			name: "warnings of every file come back on the environment",
			files: map[string]string{
				"cove.yaml": "apps:\n  - {file: a.yaml, command: ./a}\n",
				"a.yaml":    "name: app-a\nconfiguration:\n  ingress: {targetPort: 80}\n  dapr: {enabled: true}\ntemplate: {containers: [{name: a, image: a}]}\n",
			},
			warnings: []string{"a.yaml:4:3 configuration.dapr.appPort: not set, so Dapr cannot call the app"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, probs := loadIn(t, tc.files)
			if len(tc.errors) > 0 {
				if env != nil {
					t.Fatalf("Load succeeded; want errors %v", tc.errors)
				}
				checkFileProblems(t, "errors", probs, tc.errors)
				return
			}
			if env == nil {
				t.Fatalf("Load failed:\n%v", probs)
			}
			checkFileProblems(t, "warnings", probs, tc.warnings)
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "cove.yaml"))
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 || !strings.Contains(probs[0].Message, "no such file") {
		t.Fatalf("Load of a missing file = %v", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"My Project/cove.yaml":    "apps:\n  - {file: backend.yaml, command: [./backend, --port, 8000]}\n",
		"My Project/backend.yaml": backendApp,
	})
	env, err := Load(filepath.Join(dir, "My Project", "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{env.Name, env.Domain, env.Edge, env.Apps[0].Command, env.Apps[0].Shell, env.Apps[0].Dir}
	want := []any{"my-project", "localhost", Edge{Address: "127.0.0.1", HTTPPort: 8080},
		[]string{"./backend", "--port", "8000"}, false, filepath.Join(dir, "My Project")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if !env.Edge.Names() {
		t.Error("replicas do not resolve app names by default")
	}
}

func TestLoadAppNamesOff(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"cove.yaml":    "edge: {appNames: false}\napps:\n  - {file: backend.yaml, command: ./backend}\n",
		"backend.yaml": backendApp,
	})
	env, err := Load(filepath.Join(dir, "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if env.Edge.Names() {
		t.Error("edge.appNames: false leaves replicas resolving app names")
	}
}

func TestLoadProblemsNameFilesAsGiven(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"envs/demo/cove.yaml":     "apps:\n  - {file: apps/a.yaml, command: ./a}\n",
		"envs/demo/apps/a.yaml":   "name: app-a\ntemplate: {containers: [{name: a}]}\n",
		"envs/demo/unrelated.txt": "",
	})
	t.Chdir(dir)
	_, err := Load("envs/demo/cove.yaml")
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 1 {
		t.Fatalf("Load = %v", err)
	}
	if got, want := probs[0].File, filepath.Join("envs", "demo", "apps", "a.yaml"); got != want {
		t.Errorf("problem file = %q, want %q", got, want)
	}
}

// TestCommandLine checks when a command string needs a shell: only when it
// uses shell syntax, so a plain command line is the replica's process itself.
func TestCommandLine(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		args  []string
		shell bool
	}{
		{name: "plain string", yaml: "./bin/app --port 8000", args: []string{"./bin/app", "--port", "8000"}},
		{name: "go run", yaml: "go run ./backend", args: []string{"go", "run", "./backend"}},
		{name: "variable", yaml: "./app --port $PORT", args: []string{"./app --port $PORT"}, shell: true},
		{name: "pipeline", yaml: "./app | tee log", args: []string{"./app | tee log"}, shell: true},
		{name: "and", yaml: "make && ./app", args: []string{"make && ./app"}, shell: true},
		{name: "yaml quotes are not shell quotes", yaml: `"./app  -v"`, args: []string{"./app", "-v"}},
		{name: "assignment", yaml: "'X=1 ./app'", args: []string{"X=1 ./app"}, shell: true},
		{name: "list", yaml: "[./app, $PORT]", args: []string{"./app", "$PORT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{
				"cove.yaml":    "apps:\n  - file: backend.yaml\n    command: " + tc.yaml + "\n",
				"backend.yaml": backendApp,
			})
			env, err := Load(filepath.Join(dir, "cove.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got := env.Apps[0]
			if diff := cmp.Diff(tc.args, got.Command); diff != "" || got.Shell != tc.shell {
				t.Errorf("command %s: args (-want +got):\n%s shell = %v, want %v", tc.yaml, diff, got.Shell, tc.shell)
			}
		})
	}
}
