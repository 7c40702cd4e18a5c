package cli

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/spec"
)

// The `cove containerapp …` and `cove env …` verbs read the running
// environment through the management API's ARM-shaped routes and print
// what `az containerapp …` prints, with az's names, flags and output.

// armCmd is a read verb: flags to find the environment, az's output
// flags, and a run that fetches what to print.
type armCmd struct {
	file string
	out  azOutput
}

// newARMCmd builds a read verb whose run returns the value to print and
// its table columns.
func newARMCmd(use, short string, cols []tableCol, run func(cmd *cobra.Command, c *control.Client) (any, error)) *cobra.Command {
	a := &armCmd{}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := connect(cmd, a.file)
			if err != nil {
				return err
			}
			v, err := run(cmd, client)
			if err != nil {
				return err
			}
			return a.out.print(cmd.OutOrStdout(), v, cols)
		},
	}
	runningFileFlag(cmd, &a.file)
	addAzFlags(cmd, &a.out)
	return cmd
}

// nameFlag adds the required -n/--name of an app, which the shell
// completes with the running environment's apps.
func nameFlag(cmd *cobra.Command, name *string, what string) {
	cmd.Flags().StringVarP(name, "name", "n", "", what)
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.RegisterFlagCompletionFunc("name", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		file, _ := cmd.Flags().GetString("file")
		client, err := connect(cmd, file)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var l control.ARMList[*spec.ContainerApp]
		if err := client.ARM(cmd.Context(), "/containerApps", &l); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, a := range l.Value {
			names = append(names, a.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

// revisionFlag adds --revision, which the shell completes with the
// revisions of the app -n names.
func revisionFlag(cmd *cobra.Command, rev *string, what string) {
	cmd.Flags().StringVar(rev, "revision", "", what)
	_ = cmd.RegisterFlagCompletionFunc("revision", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		file, _ := cmd.Flags().GetString("file")
		app, _ := cmd.Flags().GetString("name")
		client, err := connect(cmd, file)
		if err != nil || app == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var l control.ARMList[control.ARMRevision]
		if err := client.ARM(cmd.Context(), "/containerApps/"+url.PathEscape(app)+"/revisions", &l); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, r := range l.Value {
			names = append(names, r.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

var appCols = []tableCol{
	{"Name", "name"}, {"Location", "location"}, {"ResourceGroup", "resourceGroup"},
	{"Fqdn", "properties.configuration.ingress.fqdn"},
}

func newContainerAppCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "containerapp",
		Short: "Manage the running environment's apps as az containerapp does",
		Long: `Show and change the running environment's apps, revisions, replicas and
ingress with the names, flags and output of az containerapp: -o
json|jsonc|yaml|table|tsv|none and --query with a JMESPath expression.
-g/--resource-group and --environment are accepted and ignored. Changes are
written into the app's file and cove.yaml, which stay the record of the
environment, and applied at once. See docs/cli.md.`,
		Args: cobra.NoArgs,
	}
	list := newARMCmd("list", "List the apps", appCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		var l control.ARMList[*spec.ContainerApp]
		err := c.ARM(cmd.Context(), "/containerApps", &l)
		return l.Value, err
	})
	var name string
	show := newARMCmd("show -n NAME", "Show an app", appCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		return getApp(cmd, c, name)
	})
	nameFlag(show, &name, "the app's name")
	cmd.AddCommand(list, show, newCreateCmd(), newUpdateCmd(), newDeleteCmd(), newDaprCmd(), newSecretCmd(), newRevisionCmd(), newReplicaCmd(),
		newIngressCmd(), newManagedEnvCmd(), newContainerAppExecCmd(), newContainerAppLogsCmd())
	return cmd
}

func getApp(cmd *cobra.Command, c *control.Client, name string) (*spec.ContainerApp, error) {
	var app spec.ContainerApp
	err := c.ARM(cmd.Context(), "/containerApps/"+url.PathEscape(name), &app)
	return &app, err
}

var revisionCols = []tableCol{
	{"Name", "name"}, {"Active", "properties.active"}, {"TrafficWeight", "properties.trafficWeight"},
	{"Replicas", "properties.replicas"}, {"HealthState", "properties.healthState"},
	{"ProvisioningState", "properties.provisioningState"}, {"RunningState", "properties.runningState"},
}

func newRevisionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "revision", Short: "Show, activate, deactivate, restart and label an app's revisions", Args: cobra.NoArgs}
	var name string
	var all bool
	list := newARMCmd("list -n NAME [--all]", "List an app's active revisions", revisionCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		var l control.ARMList[control.ARMRevision]
		if err := c.ARM(cmd.Context(), "/containerApps/"+url.PathEscape(name)+"/revisions", &l); err != nil {
			return nil, err
		}
		out := []control.ARMRevision{}
		for _, r := range l.Value {
			if all || r.Properties.Active {
				out = append(out, r)
			}
		}
		return out, nil
	})
	nameFlag(list, &name, "the app's name")
	list.Flags().BoolVar(&all, "all", false, "list inactive revisions too (and starting and stopping ones)")

	var showName, revision string
	show := newARMCmd("show -n NAME --revision REVISION", "Show a revision", revisionCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		var r control.ARMRevision
		err := c.ARM(cmd.Context(), "/containerApps/"+url.PathEscape(showName)+"/revisions/"+url.PathEscape(revision), &r)
		return r, err
	})
	nameFlag(show, &showName, "the app's name")
	revisionFlag(show, &revision, "the revision's name")
	_ = show.MarkFlagRequired("revision")
	cmd.AddCommand(list, show)
	addRevisionOps(cmd)
	return cmd
}

var replicaCols = []tableCol{
	{"Name", "name"}, {"RunningState", "properties.runningState"},
	{"Containers", "join(', ', properties.containers[].name)"},
	{"RunningStateDetails", "properties.runningStateDetails"},
}

// latestRevision is revision, or when empty the app's latest revision, as
// az's replica commands default to.
func latestRevision(cmd *cobra.Command, c *control.Client, app, revision string) (string, error) {
	if revision != "" {
		return revision, nil
	}
	a, err := getApp(cmd, c, app)
	if err != nil {
		return "", err
	}
	if a.Properties.LatestRevisionName == "" {
		return "", fmt.Errorf("app %s has no running revision; `cove containerapp revision list -n %s --all` lists its revisions", app, app)
	}
	return a.Properties.LatestRevisionName, nil
}

func newReplicaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "replica", Short: "Show a revision's replicas", Args: cobra.NoArgs}
	var name, revision string
	list := newARMCmd("list -n NAME [--revision REVISION]", "List the replicas of a revision (the latest one by default)", replicaCols,
		func(cmd *cobra.Command, c *control.Client) (any, error) {
			rev, err := latestRevision(cmd, c, name, revision)
			if err != nil {
				return nil, err
			}
			var l control.ARMList[control.ARMReplica]
			err = c.ARM(cmd.Context(), "/containerApps/"+url.PathEscape(name)+"/revisions/"+url.PathEscape(rev)+"/replicas", &l)
			return l.Value, err
		})
	nameFlag(list, &name, "the app's name")
	revisionFlag(list, &revision, "the revision's name; the app's latest revision when not given")

	var showName, showRev, replica string
	show := newARMCmd("show -n NAME --replica REPLICA [--revision REVISION]", "Show a replica", replicaCols,
		func(cmd *cobra.Command, c *control.Client) (any, error) {
			rev, err := latestRevision(cmd, c, showName, showRev)
			if err != nil {
				return nil, err
			}
			var r control.ARMReplica
			err = c.ARM(cmd.Context(), "/containerApps/"+url.PathEscape(showName)+"/revisions/"+url.PathEscape(rev)+"/replicas/"+url.PathEscape(replica), &r)
			return r, err
		})
	nameFlag(show, &showName, "the app's name")
	revisionFlag(show, &showRev, "the replica's revision; the app's latest revision when not given")
	show.Flags().StringVar(&replica, "replica", "", "the replica's name")
	_ = show.MarkFlagRequired("replica")
	cmd.AddCommand(list, show)
	return cmd
}

func newIngressCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ingress", Short: "Show an app's ingress", Args: cobra.NoArgs}
	// ingress is the app's ingress, or an error that says it has none.
	ingress := func(cmd *cobra.Command, c *control.Client, name string) (*spec.Ingress, error) {
		app, err := getApp(cmd, c, name)
		if err != nil {
			return nil, err
		}
		if app.Properties.Configuration == nil || app.Properties.Configuration.Ingress == nil {
			return nil, fmt.Errorf("app %s has no ingress; give it one under properties.configuration.ingress in its file and run `cove reload`", name)
		}
		return app.Properties.Configuration.Ingress, nil
	}
	var name string
	show := newARMCmd("show -n NAME", "Show an app's ingress", []tableCol{
		{"Fqdn", "fqdn"}, {"External", "external"}, {"TargetPort", "targetPort"}, {"Transport", "transport"}, {"AllowInsecure", "allowInsecure"},
	}, func(cmd *cobra.Command, c *control.Client) (any, error) {
		return ingress(cmd, c, name)
	})
	nameFlag(show, &name, "the app's name")

	traffic := &cobra.Command{Use: "traffic", Short: "Show how an app's traffic is split", Args: cobra.NoArgs}
	var tname string
	tshow := newARMCmd("show -n NAME", "Show the app's traffic weights", []tableCol{
		{"RevisionName", "revisionName"}, {"LatestRevision", "latestRevision"}, {"Label", "label"}, {"Weight", "weight"},
	}, func(cmd *cobra.Command, c *control.Client) (any, error) {
		in, err := ingress(cmd, c, tname)
		if err != nil {
			return nil, err
		}
		if in.Traffic == nil {
			return []spec.TrafficWeight{}, nil
		}
		return in.Traffic, nil
	})
	nameFlag(tshow, &tname, "the app's name")
	traffic.AddCommand(tshow, newTrafficSetCmd())
	cmd.AddCommand(show, traffic)
	addIngressSwitches(cmd)
	cmd.AddCommand(newAccessRestrictionCmd(), newCORSCmd(), newStickyCmd())
	return cmd
}

var envCols = []tableCol{
	{"Name", "name"}, {"Location", "location"}, {"DefaultDomain", "properties.defaultDomain"},
	{"StaticIp", "properties.staticIp"}, {"ProvisioningState", "properties.provisioningState"},
}

// envName is name, or when empty the running environment's.
func envName(cmd *cobra.Command, c *control.Client, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	var l control.ARMList[control.ARMEnvironment]
	if err := c.ARM(cmd.Context(), "/managedEnvironments", &l); err != nil {
		return "", err
	}
	if len(l.Value) == 0 {
		return "", fmt.Errorf("the management API lists no environment")
	}
	return l.Value[0].Name, nil
}

// addManagedEnvCmds adds `show` and `dapr-component` to an env command.
func addManagedEnvCmds(cmd *cobra.Command) {
	var name string
	show := newARMCmd("show [-n NAME]", "Show the environment", envCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		n, err := envName(cmd, c, name)
		if err != nil {
			return nil, err
		}
		var env control.ARMEnvironment
		err = c.ARM(cmd.Context(), "/managedEnvironments/"+url.PathEscape(n), &env)
		return env, err
	})
	show.Flags().StringVarP(&name, "name", "n", "", "the environment's name; the running one's when not given")

	dc := &cobra.Command{Use: "dapr-component", Short: "Show the environment's Dapr components", Args: cobra.NoArgs}
	compCols := []tableCol{
		{"Name", "name"}, {"ComponentType", "properties.componentType"}, {"Version", "properties.version"},
		{"IgnoreErrors", "properties.ignoreErrors"}, {"Scopes", "join(', ', properties.scopes || `[]`)"},
	}
	var listEnv string
	list := newARMCmd("list [-n ENVIRONMENT]", "List the Dapr components", compCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		n, err := envName(cmd, c, listEnv)
		if err != nil {
			return nil, err
		}
		var l control.ARMList[control.ARMDaprComponent]
		err = c.ARM(cmd.Context(), "/managedEnvironments/"+url.PathEscape(n)+"/daprComponents", &l)
		return l.Value, err
	})
	list.Flags().StringVarP(&listEnv, "name", "n", "", "the environment's name; the running one's when not given")
	var showEnv, comp string
	cshow := newARMCmd("show --dapr-component-name NAME [-n ENVIRONMENT]", "Show a Dapr component", compCols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		n, err := envName(cmd, c, showEnv)
		if err != nil {
			return nil, err
		}
		var dc control.ARMDaprComponent
		err = c.ARM(cmd.Context(), "/managedEnvironments/"+url.PathEscape(n)+"/daprComponents/"+url.PathEscape(comp), &dc)
		return dc, err
	})
	cshow.Flags().StringVarP(&showEnv, "name", "n", "", "the environment's name; the running one's when not given")
	cshow.Flags().StringVar(&comp, "dapr-component-name", "", "the component's name")
	_ = cshow.MarkFlagRequired("dapr-component-name")
	dc.AddCommand(list, cshow, newComponentSetCmd(compCols), newComponentRemoveCmd())
	cmd.AddCommand(show, dc)
}

// newManagedEnvCmd is `cove containerapp env`, as az's `az containerapp env`.
func newManagedEnvCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "env", Short: "Show the environment and its Dapr components", Args: cobra.NoArgs}
	addManagedEnvCmds(cmd)
	return cmd
}
