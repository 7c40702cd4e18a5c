package control

import (
	"fmt"
	"slices"

	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
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
