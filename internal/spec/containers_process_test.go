package spec

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// podApp has an init container and two containers.
const podApp = "name: pod\ntemplate:\n  initContainers: [{name: migrate, image: m}]\n  containers: [{name: web, image: w}, {name: logger, image: l}]\n"

func TestProcessContainers(t *testing.T) {
	env, probs := loadIn(t, map[string]string{
		"cove.yaml": y(`
apps:
  - file: pod.yaml
    env: {A: "1"}
    containers:
      web: {command: ./web --port 8000}
      logger: {command: "./logger | tee log", dir: tools, env: {LEVEL: debug}}
      migrate: {command: [./migrate, up]}
`),
		"pod.yaml":    podApp,
		"tools/.keep": "",
	})
	if env == nil || len(probs) != 0 {
		t.Fatalf("problems: %v", briefs(probs))
	}
	dir, _ := filepath.Abs(".")
	a := env.Apps[0]
	if a.Runtime != RuntimeProcess || !cmp.Equal(a.Command, []string{"./web", "--port", "8000"}) || a.Shell {
		t.Errorf("runtime %s, command %q (shell %v); want process mode running web's command", a.Runtime, a.Command, a.Shell)
	}
	want := map[string]*ContainerCommand{
		"web":     {Command: []string{"./web", "--port", "8000"}, Dir: dir},
		"logger":  {Command: []string{"./logger | tee log"}, Shell: true, Dir: filepath.Join(dir, "tools"), Env: map[string]string{"LEVEL": "debug"}},
		"migrate": {Command: []string{"./migrate", "up"}, Dir: dir},
	}
	if diff := cmp.Diff(want, a.ContainerCommands); diff != "" {
		t.Errorf("container commands (-want +got):\n%s", diff)
	}
}

func TestProcessContainersRules(t *testing.T) {
	tests := []struct {
		name     string
		cove     string
		errors   []string
		warnings []string
	}{
		{
			name:     "a container without a command is named",
			cove:     "apps:\n  - file: pod.yaml\n    command: ./web\n    containers:\n      migrate: {command: ./migrate}\n",
			warnings: []string{"4:5 apps[0].containers.logger: container logger of pod.yaml does not run in process mode"},
		},
		{
			name: "an unknown container, a missing command, both commands for the first",
			cove: "apps:\n  - file: pod.yaml\n    command: ./web\n    containers:\n      web: {command: ./web2}\n      loger: {command: ./l}\n      migrate: {dir: .}\n",
			errors: []string{
				"5:13 apps[0].containers.web.command: container web is the app's first",
				"6:7 apps[0].containers.loger: pod.yaml has no container or init container \"loger\"; did you mean \"logger\"?",
				"7:7 apps[0].containers.migrate.command: required: how to run container migrate",
			},
		},
		{
			name:   "the first container needs a command",
			cove:   "apps:\n  - file: pod.yaml\n    containers:\n      logger: {command: ./l}\n      migrate: {command: ./m}\n",
			errors: []string{"2:5 apps[0].command: required: how to run container web, the app's first"},
		},
		{
			name:   "container mode runs images",
			cove:   "apps:\n  - file: pod.yaml\n    runtime: container\n    containers:\n      logger: {command: ./l}\n",
			errors: []string{"4:5 apps[0].containers: a container-mode app runs its images"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, probs := loadIn(t, map[string]string{"cove.yaml": tc.cove, "pod.yaml": podApp})
			if env != nil {
				checkProblems(t, "errors", nil, tc.errors)
				checkProblems(t, "warnings", probs, tc.warnings)
				return
			}
			checkProblems(t, "errors", probs, tc.errors)
		})
	}
}
