package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/spec"
)

// updateFlags are `cove containerapp update`'s changes, named as az's.
type updateFlags struct {
	name, container, image, command, args, suffix string
	envVars                                       []string
	minReplicas, maxReplicas                      int
}

func newUpdateCmd() *cobra.Command {
	var f updateFlags
	cmd := patchCmd("update -n NAME [--image IMAGE] [--command CMD] [--args ARGS] [--set-env-vars K=V ...] [--min-replicas N] [--max-replicas N] [--revision-suffix SUFFIX]",
		"Change an app: its file is updated and applied as cove reload applies it",
		"  cove containerapp update -n triage-backend --set-env-vars LOG_LEVEL=debug --min-replicas 1 --max-replicas 1",
		appCols, &f.name, f.patch, func(app *spec.ContainerApp) any { return app })
	cmd.Long = `Change an app as az containerapp update does. The change is written into the
app's own file (the one cove.yaml names), atomically, and applied as
cove reload applies a file: a change of the template (image, command,
arguments, environment variables, replicas, revision suffix) starts a new
revision. An update that makes the app or the environment invalid, or whose
revision does not get ready, leaves the file and the running app as they were.
The update is conditional on the app's file being unchanged since it was read:
if another update or an edit came in between, it fails and changes nothing.

--set-env-vars takes KEY=VALUE or KEY=secretref:SECRET, space-separated as
az's. --command and --args are split at spaces.`
	fl := cmd.Flags()
	fl.StringVar(&f.container, "container-name", "", "the container to change; the template's first when not given")
	templateFlags(cmd, &f.image, &f.command, &f.args, &f.suffix, &f.minReplicas, &f.maxReplicas)
	fl.StringArrayVar(&f.envVars, "set-env-vars", nil, "environment variables to set: KEY=VALUE or KEY=secretref:SECRET")
	return cmd
}

// templateFlags adds the flags create and update share, az's for the
// template.
func templateFlags(cmd *cobra.Command, image, command, args, suffix *string, minReplicas, maxReplicas *int) {
	fl := cmd.Flags()
	fl.StringVar(image, "image", "", "the container's image")
	fl.StringVar(command, "command", "", "the container's command, split at spaces")
	fl.StringVar(args, "args", "", "the container's arguments, split at spaces")
	fl.IntVar(minReplicas, "min-replicas", 0, "the revision's minimum number of replicas")
	fl.IntVar(maxReplicas, "max-replicas", 0, "the revision's maximum number of replicas")
	fl.StringVar(suffix, "revision-suffix", "", "the suffix of the new revision's name")
}

// patch is the JSON merge patch of app the flags ask for.
func (f *updateFlags) patch(cmd *cobra.Command, app *spec.ContainerApp) (any, error) {
	changed := cmd.Flags().Changed
	tmpl := map[string]any{}
	t := app.Properties.Template
	if changed("image") || changed("command") || changed("args") || len(f.envVars) > 0 {
		if t == nil || len(t.Containers) == 0 {
			return nil, fmt.Errorf("app %s has no container to change", f.name)
		}
		i := 0
		if f.container != "" {
			i = slices.IndexFunc(t.Containers, func(c *spec.Container) bool { return c.Name == f.container })
			if i < 0 {
				return nil, fmt.Errorf("app %s has no container %q; `cove containerapp show -n %s --query properties.template.containers[].name` lists them", f.name, f.container, f.name)
			}
		}
		c := t.Containers[i]
		if changed("image") {
			c.Image = f.image
		}
		if changed("command") {
			c.Command = strings.Fields(f.command)
		}
		if changed("args") {
			c.Args = strings.Fields(f.args)
		}
		for _, kv := range f.envVars {
			ev, err := envVar("--set-env-vars", kv)
			if err != nil {
				return nil, err
			}
			if j := slices.IndexFunc(c.Env, func(e spec.EnvVar) bool { return e.Name == ev.Name }); j >= 0 {
				c.Env[j] = ev
			} else {
				c.Env = append(c.Env, ev)
			}
		}
		tmpl["containers"] = t.Containers
	}
	scale := map[string]any{}
	if changed("min-replicas") {
		scale["minReplicas"] = f.minReplicas
	}
	if changed("max-replicas") {
		scale["maxReplicas"] = f.maxReplicas
	}
	if len(scale) > 0 {
		tmpl["scale"] = scale
	}
	if changed("revision-suffix") {
		tmpl["revisionSuffix"] = f.suffix
	}
	if len(tmpl) == 0 {
		return nil, fmt.Errorf("nothing to update: give --image, --command, --args, --set-env-vars, --min-replicas, --max-replicas or --revision-suffix")
	}
	return map[string]any{"properties": map[string]any{"template": tmpl}}, nil
}
