package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/spec"
)

// createFlags are `cove containerapp create`'s, named as az's, and cove's
// own for running the app as a local process.
type createFlags struct {
	name, yamlFile, image, command, args, ingress, transport, revisionsMode, suffix, memory string
	daprAppID, daprAppProtocol                                                              string
	envVars, secrets                                                                        []string
	targetPort, minReplicas, maxReplicas, daprAppPort                                       int
	cpu                                                                                     float64
	enableDapr                                                                              bool
	local                                                                                   control.CreateLocal
}

func newCreateCmd() *cobra.Command {
	var f createFlags
	var file string
	var out azOutput
	cmd := &cobra.Command{
		Use:   "create -n NAME (--yaml FILE | --image IMAGE [flags])",
		Short: "Create an app: written as NAME.yaml beside cove.yaml, listed there, and started",
		Long: `Create an app as az containerapp create does, from an app YAML (--yaml, - for
stdin; what 'cove containerapp show -o yaml' prints is accepted) or from flags.
The app is written as NAME.yaml beside the environment file and added to its
apps, keeping the file's comments, then started; the file is the record of
the app, so it is there after a restart. An app that is invalid, or whose
replicas do not get ready, is not created and both files are as before.

Without --local-command the app runs its images (a container engine runs
them, see docs/containers.md). With it, it runs as a local process: the
command, with --local-build run first, is cove.yaml's command and build.

--env-vars and --secrets take several space-separated KEY=VALUE values, as
az's; --env-vars also KEY=secretref:SECRET.`,
		Example: `  cove containerapp create -n redis --image docker.io/redis:7-alpine --target-port 6379 --ingress internal \
    --min-replicas 1 --max-replicas 1 --cpu 0.25 --memory 0.5Gi
  cove containerapp create -n api --image api:1 --local-command 'go run ./api' --ingress external --target-port 8000
  cove containerapp show -n api -o yaml | cove containerapp create -n api2 --yaml - --local-command 'go run ./api'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			var app spec.ContainerApp
			if err := client.ARMPut(cmd.Context(), "/containerApps/"+url.PathEscape(f.name), body, &app); err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), &app, appCols)
		},
	}
	fl := cmd.Flags()
	nameFlag(cmd, &f.name, "the app's name")
	fl.StringVar(&f.yamlFile, "yaml", "", "the app's YAML file (- reads stdin); the other ACA flags are then ignored")
	templateFlags(cmd, &f.image, &f.command, &f.args, &f.suffix, &f.minReplicas, &f.maxReplicas)
	fl.StringArrayVar(&f.envVars, "env-vars", nil, "environment variables: KEY=VALUE or KEY=secretref:SECRET")
	fl.StringArrayVar(&f.secrets, "secrets", nil, "secrets: NAME=VALUE")
	fl.StringVar(&f.ingress, "ingress", "", "ingress: external or internal; none when not given")
	fl.IntVar(&f.targetPort, "target-port", 0, "the port the app listens on for ingress")
	fl.StringVar(&f.transport, "transport", "", "ingress transport: auto, http, http2 or tcp")
	fl.BoolVar(&f.enableDapr, "enable-dapr", false, "give the app a Dapr sidecar")
	fl.StringVar(&f.daprAppID, "dapr-app-id", "", "the Dapr app id; the app's name when not given")
	fl.IntVar(&f.daprAppPort, "dapr-app-port", 0, "the port the sidecar calls the app on")
	fl.StringVar(&f.daprAppProtocol, "dapr-app-protocol", "", "http or grpc")
	fl.StringVar(&f.revisionsMode, "revisions-mode", "", "activeRevisionsMode: single, multiple or labels")
	fl.Float64Var(&f.cpu, "cpu", 0, "CPU cores of the container, e.g. 0.25")
	fl.StringVar(&f.memory, "memory", "", "memory of the container, e.g. 0.5Gi")
	fl.StringVar(&f.local.Command, "local-command", "", "cove: run the app as this local process (cove.yaml's command)")
	fl.StringVar(&f.local.Build, "local-build", "", "cove: a shell command that builds the app before it starts (cove.yaml's build)")
	fl.StringVar(&f.local.Dir, "local-dir", "", "cove: the local command's working directory, relative to cove.yaml's")
	runningFileFlag(cmd, &file)
	addAzFlags(cmd, &out)
	return cmd
}

// body is the PUT body: the app resource and cove's local settings.
func (f *createFlags) body(cmd *cobra.Command) (json.RawMessage, error) {
	var app json.RawMessage
	var err error
	if f.yamlFile != "" {
		app, err = f.fromYAML(cmd.InOrStdin())
	} else {
		app, err = f.fromFlags(cmd)
	}
	if err != nil {
		return nil, err
	}
	local, err := json.Marshal(f.local)
	if err != nil {
		return nil, err
	}
	// The app's keys in their order, then "local".
	trimmed := bytes.TrimSuffix(bytes.TrimSpace(app), []byte("}"))
	if !bytes.HasSuffix(bytes.TrimSpace(trimmed), []byte("{")) {
		trimmed = append(trimmed, ',')
	}
	return append(append(trimmed, `"local":`...), append(local, '}')...), nil
}

// fromYAML reads the app's YAML file (or stdin) as JSON in its key order,
// named -n's name.
func (f *createFlags) fromYAML(stdin io.Reader) (json.RawMessage, error) {
	var data []byte
	var err error
	if f.yamlFile == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(f.yamlFile)
	}
	if err != nil {
		return nil, fmt.Errorf("--yaml: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("--yaml %s: %w", f.yamlFile, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("--yaml %s: not a container app: write a mapping with name and properties, as az containerapp create --yaml takes", f.yamlFile)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "name" {
			root.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.name}
		}
	}
	var buf bytes.Buffer
	if err := nodeJSON(&buf, root); err != nil {
		return nil, fmt.Errorf("--yaml %s: %w", f.yamlFile, err)
	}
	return buf.Bytes(), nil
}

// nodeJSON writes a YAML node as JSON, keeping the order of mapping keys.
func nodeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return nodeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := nodeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := nodeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
	}
	return nil
}

// fromFlags is the app the ACA flags describe.
func (f *createFlags) fromFlags(cmd *cobra.Command) (json.RawMessage, error) {
	changed := cmd.Flags().Changed
	if f.image == "" {
		return nil, fmt.Errorf("give the app's image with --image, or its YAML with --yaml")
	}
	c := &spec.Container{BaseContainer: spec.BaseContainer{Name: f.name, Image: f.image,
		Command: strings.Fields(f.command), Args: strings.Fields(f.args)}}
	for _, kv := range f.envVars {
		ev, err := envVar("--env-vars", kv)
		if err != nil {
			return nil, err
		}
		c.Env = append(c.Env, ev)
	}
	if f.cpu != 0 || f.memory != "" {
		c.Resources = &spec.ContainerResources{CPU: f.cpu, Memory: f.memory}
	}
	tmpl := &spec.Template{RevisionSuffix: f.suffix, Containers: []*spec.Container{c}}
	if changed("min-replicas") || changed("max-replicas") {
		tmpl.Scale = &spec.Scale{MinReplicas: f.minReplicas, MaxReplicas: f.maxReplicas}
	}
	cfg := &spec.Configuration{ActiveRevisionsMode: f.revisionsMode}
	for _, kv := range f.secrets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--secrets %q: write NAME=VALUE", kv)
		}
		cfg.Secrets = append(cfg.Secrets, spec.Secret{Name: k, Value: v})
	}
	switch f.ingress {
	case "":
		if changed("target-port") || changed("transport") {
			return nil, fmt.Errorf("--target-port and --transport configure ingress: add --ingress external or --ingress internal")
		}
	case "external", "internal":
		if f.targetPort == 0 {
			return nil, fmt.Errorf("--ingress %s needs --target-port, the port the app listens on", f.ingress)
		}
		cfg.Ingress = &spec.Ingress{External: f.ingress == "external", TargetPort: f.targetPort, Transport: f.transport}
	default:
		return nil, fmt.Errorf("--ingress %q: use external or internal", f.ingress)
	}
	if f.enableDapr {
		cfg.Dapr = &spec.Dapr{Enabled: true, AppID: f.daprAppID, AppPort: f.daprAppPort, AppProtocol: f.daprAppProtocol}
		if cfg.Dapr.AppID == "" {
			cfg.Dapr.AppID = f.name
		}
	} else if changed("dapr-app-id") || changed("dapr-app-port") || changed("dapr-app-protocol") {
		return nil, fmt.Errorf("the --dapr-app-* flags configure Dapr: add --enable-dapr")
	}
	return json.Marshal(&spec.ContainerApp{Name: f.name, Properties: spec.Properties{Configuration: cfg, Template: tmpl}})
}

// envVar parses KEY=VALUE or KEY=secretref:SECRET of flag.
func envVar(flag, kv string) (spec.EnvVar, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return spec.EnvVar{}, fmt.Errorf("%s %q: write KEY=VALUE or KEY=secretref:SECRET", flag, kv)
	}
	if s, ok := strings.CutPrefix(v, "secretref:"); ok {
		return spec.EnvVar{Name: k, SecretRef: s}, nil
	}
	return spec.EnvVar{Name: k, Value: v}, nil
}

func newDeleteCmd() *cobra.Command {
	var name, file string
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete -n NAME [--yes]",
		Short: "Delete an app: it leaves cove.yaml and stops; its file is kept as FILE.deleted",
		Long: `Delete an app as az containerapp delete does: it is removed from the
environment file's apps and its replicas stop. Its own file is kept, renamed
to <file>.deleted, so that it can be listed again. Without --yes, cove asks
first when the input is a terminal.`,
		Example: `  cove containerapp delete -n triage-frontend --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				if !isTerminal(os.Stdin) {
					return fmt.Errorf("app %s: deleting it needs --yes when the input is not a terminal", name)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Are you sure you want to delete app %s? (y/n): ", name)
				var answer string
				_, _ = fmt.Fscanln(cmd.InOrStdin(), &answer)
				if !strings.HasPrefix(strings.ToLower(answer), "y") {
					return exitError{1}
				}
			}
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			return client.ARMDelete(cmd.Context(), "/containerApps/"+url.PathEscape(name))
		},
	}
	nameFlag(cmd, &name, "the app's name")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	runningFileFlag(cmd, &file)
	var out azOutput
	addAzFlags(cmd, &out)
	return cmd
}

// patchCmd is a write verb that changes one app by a JSON merge patch,
// conditional on the app being as it was read, and prints what view picks
// of the app it leaves.
func patchCmd(use, short, example string, cols []tableCol, name *string,
	patch func(cmd *cobra.Command, app *spec.ContainerApp) (any, error), view func(app *spec.ContainerApp) any) *cobra.Command {
	return clientPatchCmd(use, short, example, cols, name, func(cmd *cobra.Command, _ *control.Client, app *spec.ContainerApp) (any, error) {
		return patch(cmd, app)
	}, view)
}

// clientPatchCmd is patchCmd for a patch that reads more of the app
// through the client (its secrets' values).
func clientPatchCmd(use, short, example string, cols []tableCol, name *string,
	patch func(cmd *cobra.Command, c *control.Client, app *spec.ContainerApp) (any, error), view func(app *spec.ContainerApp) any) *cobra.Command {
	var file string
	var out azOutput
	cmd := &cobra.Command{
		Use: use, Short: short, Example: example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := connect(cmd, file)
			if err != nil {
				return err
			}
			path := "/containerApps/" + url.PathEscape(*name)
			var app spec.ContainerApp
			etag, err := client.ARMWithETag(cmd.Context(), path, &app)
			if err != nil {
				return err
			}
			p, err := patch(cmd, client, &app)
			if err != nil {
				return err
			}
			var updated spec.ContainerApp
			if _, err := client.ARMPatch(cmd.Context(), path, etag, p, &updated); err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), view(&updated), cols)
		},
	}
	nameFlag(cmd, name, "the app's name")
	runningFileFlag(cmd, &file)
	addAzFlags(cmd, &out)
	return cmd
}

// configPatch is a merge patch of properties.configuration.
func configPatch(cfg map[string]any) map[string]any {
	return map[string]any{"properties": map[string]any{"configuration": cfg}}
}

var daprCols = []tableCol{
	{"Enabled", "enabled"}, {"AppId", "appId"}, {"AppPort", "appPort"}, {"AppProtocol", "appProtocol"},
}

func newDaprCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dapr", Short: "Enable or disable an app's Dapr sidecar", Args: cobra.NoArgs}
	daprOf := func(app *spec.ContainerApp) any {
		if app.Properties.Configuration == nil || app.Properties.Configuration.Dapr == nil {
			return &spec.Dapr{}
		}
		return app.Properties.Configuration.Dapr
	}
	var name, appID, protocol string
	var port int
	enable := patchCmd("enable -n NAME [--dapr-app-id ID] [--dapr-app-port PORT] [--dapr-app-protocol http|grpc]",
		"Give an app a Dapr sidecar: a new revision starts with one on each replica",
		"  cove containerapp dapr enable -n triage-backend --dapr-app-id triage-backend --dapr-app-port 8000 --dapr-app-protocol http",
		daprCols, &name, func(cmd *cobra.Command, app *spec.ContainerApp) (any, error) {
			// A struct, so that keys the file gains come in ACA's order.
			var d struct {
				Enabled     bool   `json:"enabled"`
				AppID       string `json:"appId,omitempty"`
				AppPort     *int   `json:"appPort,omitempty"`
				AppProtocol string `json:"appProtocol,omitempty"`
			}
			d.Enabled, d.AppID, d.AppProtocol = true, appID, protocol
			if cur := daprOf(app).(*spec.Dapr); d.AppID == "" && cur.AppID == "" {
				d.AppID = name
			}
			if cmd.Flags().Changed("dapr-app-port") {
				d.AppPort = &port
			}
			return configPatch(map[string]any{"dapr": d}), nil
		}, daprOf)
	enable.Flags().StringVar(&appID, "dapr-app-id", "", "the Dapr app id; the app's name when it has none")
	enable.Flags().IntVar(&port, "dapr-app-port", 0, "the port the sidecar calls the app on")
	enable.Flags().StringVar(&protocol, "dapr-app-protocol", "", "http or grpc")
	var dname string
	disable := patchCmd("disable -n NAME", "Remove an app's Dapr sidecar: a new revision starts without one",
		"  cove containerapp dapr disable -n triage-frontend", daprCols, &dname,
		func(*cobra.Command, *spec.ContainerApp) (any, error) {
			return configPatch(map[string]any{"dapr": map[string]any{"enabled": false}}), nil
		}, daprOf)
	cmd.AddCommand(enable, disable)
	return cmd
}

var ingressCols = []tableCol{
	{"Fqdn", "fqdn"}, {"External", "external"}, {"TargetPort", "targetPort"}, {"Transport", "transport"}, {"AllowInsecure", "allowInsecure"},
}

// ingressOf is an app's ingress ({} without one).
func ingressOf(app *spec.ContainerApp) *spec.Ingress {
	if app.Properties.Configuration == nil || app.Properties.Configuration.Ingress == nil {
		return &spec.Ingress{}
	}
	return app.Properties.Configuration.Ingress
}

// addIngressSwitches adds `ingress enable` and `ingress disable` to cmd.
func addIngressSwitches(cmd *cobra.Command) {
	var name, typ, transport string
	var port, exposed int
	var insecure bool
	enable := patchCmd("enable -n NAME --type external|internal --target-port PORT [--transport auto|http|http2|tcp]",
		"Give an app ingress: a new revision starts, probed on the target port",
		"  cove containerapp ingress enable -n web --type external --target-port 8080",
		ingressCols, &name, func(cmd *cobra.Command, app *spec.ContainerApp) (any, error) {
			if typ != "external" && typ != "internal" {
				return nil, fmt.Errorf("--type %q: use external or internal", typ)
			}
			in := map[string]any{"external": typ == "external", "targetPort": port}
			if transport != "" {
				in["transport"] = transport
			}
			if cmd.Flags().Changed("exposed-port") {
				in["exposedPort"] = exposed
			}
			if cmd.Flags().Changed("allow-insecure") {
				in["allowInsecure"] = insecure
			}
			return configPatch(map[string]any{"ingress": in}), nil
		}, func(app *spec.ContainerApp) any { return ingressOf(app) })
	enable.Flags().StringVar(&typ, "type", "", "external or internal")
	enable.Flags().IntVar(&port, "target-port", 0, "the port the app listens on")
	enable.Flags().StringVar(&transport, "transport", "", "auto, http, http2 or tcp")
	enable.Flags().IntVar(&exposed, "exposed-port", 0, "the environment's port of a tcp app")
	enable.Flags().BoolVar(&insecure, "allow-insecure", false, "answer plain HTTP instead of redirecting it to HTTPS")
	_ = enable.MarkFlagRequired("type")
	_ = enable.MarkFlagRequired("target-port")
	var dname string
	disable := patchCmd("disable -n NAME", "Remove an app's ingress: a new revision starts without it",
		"  cove containerapp ingress disable -n web", ingressCols, &dname,
		func(*cobra.Command, *spec.ContainerApp) (any, error) {
			return configPatch(map[string]any{"ingress": nil}), nil
		}, func(app *spec.ContainerApp) any { return ingressOf(app) })
	cmd.AddCommand(enable, disable)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// componentPath connects to the running environment and returns the ARM
// path of its Dapr component name; env names the environment (the running
// one's when empty).
func componentPath(cmd *cobra.Command, file, env, name string) (*control.Client, string, error) {
	c, err := connect(cmd, file)
	if err != nil {
		return nil, "", err
	}
	n, err := envName(cmd, c, env)
	if err != nil {
		return nil, "", err
	}
	return c, "/managedEnvironments/" + url.PathEscape(n) + "/daprComponents/" + url.PathEscape(name), nil
}

func newComponentSetCmd(cols []tableCol) *cobra.Command {
	var env, name, yamlFile, file string
	var out azOutput
	cmd := &cobra.Command{
		Use:   "set --dapr-component-name NAME --yaml FILE [-n ENVIRONMENT]",
		Short: "Add or change a Dapr component from its ACA YAML; the apps in its scopes get it at once",
		Long: `Add or change a Dapr component as az containerapp env dapr-component set does,
from a file in ACA's component schema (componentType, version, metadata,
secrets, scopes; - reads stdin). The component is written as the file
cove.yaml names for it, or as NAME.component.yaml beside cove.yaml, added to
its components; then it loads, and every Dapr app in its scopes is built
anew over it (a new revision), as ACA restarts them. A component that does
not load, or an app that does not get ready with it, changes nothing.`,
		Example: `  cove env dapr-component set --dapr-component-name statestore --yaml statestore.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var data []byte
			var err error
			if yamlFile == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(yamlFile)
			}
			if err != nil {
				return fmt.Errorf("--yaml: %w", err)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				return fmt.Errorf("--yaml %s: %w", yamlFile, err)
			}
			if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
				return fmt.Errorf("--yaml %s: not a component: write componentType, version, metadata and scopes, as ACA's component YAML", yamlFile)
			}
			var props bytes.Buffer
			if err := nodeJSON(&props, doc.Content[0]); err != nil {
				return fmt.Errorf("--yaml %s: %w", yamlFile, err)
			}
			client, path, err := componentPath(cmd, file, env, name)
			if err != nil {
				return err
			}
			var dc control.ARMDaprComponent
			if err := client.ARMPut(cmd.Context(), path, json.RawMessage(`{"properties":`+props.String()+`}`), &dc); err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), dc, cols)
		},
	}
	componentFlags(cmd, &env, &name, &file, &out)
	cmd.Flags().StringVar(&yamlFile, "yaml", "", "the component's file in ACA's schema (- reads stdin)")
	_ = cmd.MarkFlagRequired("yaml")
	return cmd
}

// componentFlags adds the flags of a component's write verbs.
func componentFlags(cmd *cobra.Command, env, name, file *string, out *azOutput) {
	cmd.Flags().StringVarP(env, "name", "n", "", "the environment's name; the running one's when not given")
	cmd.Flags().StringVar(name, "dapr-component-name", "", "the component's name")
	_ = cmd.MarkFlagRequired("dapr-component-name")
	runningFileFlag(cmd, file)
	addAzFlags(cmd, out)
}

func newComponentRemoveCmd() *cobra.Command {
	var env, name, file string
	var out azOutput
	cmd := &cobra.Command{
		Use:   "remove --dapr-component-name NAME [-n ENVIRONMENT]",
		Short: "Remove a Dapr component; the apps in its scopes lose it at once",
		Long: `Remove a Dapr component as az containerapp env dapr-component remove does: it
leaves cove.yaml's components, every Dapr app in its scopes is built anew
without it, and it closes. Its file is kept, renamed to FILE.deleted.`,
		Example: `  cove env dapr-component remove --dapr-component-name statestore`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, path, err := componentPath(cmd, file, env, name)
			if err != nil {
				return err
			}
			return client.ARMDelete(cmd.Context(), path)
		},
	}
	componentFlags(cmd, &env, &name, &file, &out)
	return cmd
}
