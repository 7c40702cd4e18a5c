package cli

import (
	"fmt"
	"net/url"
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
	var file string
	var out azOutput
	cmd := &cobra.Command{
		Use:   "update -n NAME [--image IMAGE] [--command CMD] [--args ARGS] [--set-env-vars K=V ...] [--min-replicas N] [--max-replicas N] [--revision-suffix SUFFIX]",
		Short: "Change an app: its file is updated and applied as cove reload applies it",
		Long: `Change an app as az containerapp update does. The change is written into the
app's own file (the one cove.yaml names), atomically, and applied as
cove reload applies a file: a change of the template (image, command,
arguments, environment variables, replicas, revision suffix) starts a new
revision. An update that makes the app or the environment invalid, or whose
revision does not get ready, leaves the file and the running app as they were.
The update is conditional on the app's file being unchanged since it was read:
if another update or an edit came in between, it fails and changes nothing.

--set-env-vars takes KEY=VALUE or KEY=secretref:SECRET, space-separated as
az's: the arguments after it that are KEY=VALUE belong to it. --command and
--args are split at spaces.`,
		Example: `  cove containerapp update -n triage-backend --set-env-vars LOG_LEVEL=debug --min-replicas 1 --max-replicas 1`,
		RunE: func(cmd *cobra.Command, rest []string) error {
			for _, a := range rest {
				if !strings.Contains(a, "=") || !cmd.Flags().Changed("set-env-vars") {
					return fmt.Errorf("unexpected argument %q: --set-env-vars takes KEY=VALUE arguments", a)
				}
			}
			f.envVars = append(f.envVars, rest...)
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			path := "/containerApps/" + url.PathEscape(f.name)
			var app spec.ContainerApp
			etag, err := client.ARMWithETag(cmd.Context(), path, &app)
			if err != nil {
				return err
			}
			patch, err := f.patch(cmd, &app)
			if err != nil {
				return err
			}
			var updated spec.ContainerApp
			if _, err := client.ARMPatch(cmd.Context(), path, etag, patch, &updated); err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), &updated, appCols)
		},
	}
	fl := cmd.Flags()
	nameFlag(cmd, &f.name, "the app's name")
	fl.StringVar(&f.container, "container-name", "", "the container to change; the template's first when not given")
	fl.StringVar(&f.image, "image", "", "the container's image")
	fl.StringVar(&f.command, "command", "", "the container's command, split at spaces")
	fl.StringVar(&f.args, "args", "", "the container's arguments, split at spaces")
	fl.StringArrayVar(&f.envVars, "set-env-vars", nil, "environment variables to set: KEY=VALUE or KEY=secretref:SECRET")
	fl.IntVar(&f.minReplicas, "min-replicas", 0, "the revision's minimum number of replicas")
	fl.IntVar(&f.maxReplicas, "max-replicas", 0, "the revision's maximum number of replicas")
	fl.StringVar(&f.suffix, "revision-suffix", "", "the suffix of the new revision's name")
	runningFileFlag(cmd, &file)
	addAzFlags(cmd, &out)
	return cmd
}

// patch is the JSON merge patch of app the flags ask for.
func (f *updateFlags) patch(cmd *cobra.Command, app *spec.ContainerApp) (map[string]any, error) {
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
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--set-env-vars %q: write KEY=VALUE or KEY=secretref:SECRET", kv)
			}
			ev := spec.EnvVar{Name: k, Value: v}
			if s, ok := strings.CutPrefix(v, "secretref:"); ok {
				ev = spec.EnvVar{Name: k, SecretRef: s}
			}
			if j := slices.IndexFunc(c.Env, func(e spec.EnvVar) bool { return e.Name == k }); j >= 0 {
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
