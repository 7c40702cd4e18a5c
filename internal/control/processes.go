package control

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

const (
	// sidecarStream is the stream of a replica's sidecar's lines in its
	// log; sidecarContainer, the container they belong to, as ACA names
	// the Dapr sidecar's.
	sidecarStream    = "dapr"
	sidecarContainer = "daprd"
)

// processContainers adds to a process-mode replica's spec the template's
// init containers and further containers that cove.yaml gives commands
// (spec.AppEntry.ContainerCommands), each with its own environment.
func (e *Env) processContainers(rev *revisionRuntime, r *replicaRuntime, rs *supervisor.ReplicaSpec) error {
	entry := rev.entry
	if len(entry.ContainerCommands) == 0 {
		return nil
	}
	tmpl := entry.App.Properties.Template
	main := tmpl.Containers[0]
	rs.Container = main.Name
	if cc := entry.ContainerCommands[main.Name]; cc != nil {
		rs.Dir = cc.Dir
		rs.Env = e.replicaEnv(rev, r, append(slices.Clone(rev.env), envList(cc.Env)...))
	}
	container := func(c spec.BaseContainer) (supervisor.Container, bool, error) {
		cc := entry.ContainerCommands[c.Name]
		if cc == nil {
			return supervisor.Container{}, false, nil // cove.yaml's warning says so
		}
		env, err := containerEnv(entry.App, c.Env, entry.Secrets)
		if err != nil {
			return supervisor.Container{}, false, fmt.Errorf("app %s, container %s: %w", rev.app.name, c.Name, err)
		}
		env = append(append(env, envList(entry.Env)...), envList(cc.Env)...)
		return supervisor.Container{Name: c.Name, Command: cc.Command, Shell: cc.Shell, Dir: cc.Dir, Env: e.replicaEnv(rev, r, env)}, true, nil
	}
	for _, c := range tmpl.InitContainers {
		sc, ok, err := container(c.BaseContainer)
		if err != nil {
			return err
		}
		if ok {
			rs.Init = append(rs.Init, sc)
		}
	}
	for _, c := range tmpl.Containers[1:] {
		sc, ok, err := container(c.BaseContainer)
		if err != nil {
			return err
		}
		if ok {
			rs.Sidecars = append(rs.Sidecars, sc)
		}
	}
	return nil
}

// envList turns a map of variables into KEY=VALUE entries.
func envList(m map[string]string) []string {
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return env
}

// replicaContainers names what `cove exec --container` and `cove logs
// --container` pick from in a replica built from entry as rs: the
// template's first container; in process mode with several containers,
// those that run beside it (the first included, each with its own
// environment); and, when there are several, the containers whose names
// start the replica's output lines, as the supervisor and the engine
// write them.
func replicaContainers(entry *spec.AppEntry, rs supervisor.ReplicaSpec) (main string, procs []supervisor.Container, lines []string) {
	tmpl := entry.App.Properties.Template
	if tmpl == nil || len(tmpl.Containers) == 0 {
		return "", nil, nil
	}
	main = tmpl.Containers[0].Name
	if entry.Containers() {
		if len(tmpl.InitContainers)+len(tmpl.Containers) > 1 {
			for _, c := range tmpl.InitContainers {
				lines = append(lines, c.Name)
			}
			for _, c := range tmpl.Containers {
				lines = append(lines, c.Name)
			}
		}
		return main, nil, lines
	}
	if len(rs.Init)+len(rs.Sidecars) == 0 {
		return main, nil, nil
	}
	procs = append([]supervisor.Container{{Name: rs.Container, Dir: rs.Dir, Env: rs.Env}}, rs.Sidecars...)
	lines = append(lines, rs.Container)
	for _, c := range rs.Init {
		lines = append(lines, c.Name)
	}
	for _, c := range rs.Sidecars {
		lines = append(lines, c.Name)
	}
	return main, procs, lines
}

// lineContainer is the container a replica's output line came from: the
// one its text starts with when the replica has several (lines), the
// sidecar's for its lines, else main.
func lineContainer(main string, lines []string, stream, text string) string {
	if stream == sidecarStream {
		return sidecarContainer
	}
	for _, n := range lines {
		if strings.HasPrefix(text, n+": ") {
			return n
		}
	}
	return main
}
