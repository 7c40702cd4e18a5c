package cli

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/spec"
)

// The secret and ingress write verbs: each a merge patch of the app's
// configuration through patchCmd, printing what az prints.

// appSecrets are the app's secrets with their values (listSecrets).
func appSecrets(cmd *cobra.Command, c *control.Client, name string) ([]spec.Secret, error) {
	var l control.ARMList[spec.Secret]
	err := c.ARMPost(cmd.Context(), "/containerApps/"+url.PathEscape(name)+"/listSecrets", &l)
	return l.Value, err
}

// secretNames are the secrets as az's secret list shows them: names only.
func secretNames(app *spec.ContainerApp) any {
	out := []map[string]string{}
	if cfg := app.Properties.Configuration; cfg != nil {
		for _, s := range cfg.Secrets {
			out = append(out, map[string]string{"name": s.Name})
		}
	}
	return out
}

var secretCols = []tableCol{{"Name", "name"}}

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage an app's secrets", Args: cobra.NoArgs}
	var lname string
	var values bool
	list := newARMCmd("list -n NAME [--show-values]", "List an app's secrets by name", []tableCol{{"Name", "name"}, {"Value", "value"}},
		func(cmd *cobra.Command, c *control.Client) (any, error) {
			secrets, err := appSecrets(cmd, c, lname)
			if err != nil || values {
				return secrets, err
			}
			return secretNames(&spec.ContainerApp{Properties: spec.Properties{Configuration: &spec.Configuration{Secrets: secrets}}}), nil
		})
	nameFlag(list, &lname, "the app's name")
	list.Flags().BoolVar(&values, "show-values", false, "show the secrets' values too")

	var sname, secret string
	show := newARMCmd("show -n NAME --secret-name SECRET", "Show a secret with its value", []tableCol{{"Name", "name"}, {"Value", "value"}},
		func(cmd *cobra.Command, c *control.Client) (any, error) {
			secrets, err := appSecrets(cmd, c, sname)
			if err != nil {
				return nil, err
			}
			i := slices.IndexFunc(secrets, func(s spec.Secret) bool { return s.Name == secret })
			if i < 0 {
				return nil, fmt.Errorf("app %s has no secret %q; `cove containerapp secret list -n %s` lists them", sname, secret, sname)
			}
			return secrets[i], nil
		})
	nameFlag(show, &sname, "the app's name")
	show.Flags().StringVar(&secret, "secret-name", "", "the secret's name")
	_ = show.MarkFlagRequired("secret-name")

	var setName string
	var pairs []string
	set := clientPatchCmd("set -n NAME --secrets NAME=VALUE ...", "Add or change an app's secrets: a new revision reads them",
		"  cove containerapp secret set -n triage-backend --secrets api-token=s3cret db-password=hunter2",
		secretCols, &setName, func(cmd *cobra.Command, c *control.Client, _ *spec.ContainerApp) (any, error) {
			secrets, err := appSecrets(cmd, c, setName)
			if err != nil {
				return nil, err
			}
			for _, kv := range pairs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("--secrets %q: write NAME=VALUE", kv)
				}
				if i := slices.IndexFunc(secrets, func(s spec.Secret) bool { return s.Name == k }); i >= 0 {
					secrets[i] = spec.Secret{Name: k, Value: v}
				} else {
					secrets = append(secrets, spec.Secret{Name: k, Value: v})
				}
			}
			return configPatch(map[string]any{"secrets": secrets}), nil
		}, secretNames)
	set.Flags().StringArrayVar(&pairs, "secrets", nil, "secrets to set: NAME=VALUE, space-separated")
	_ = set.MarkFlagRequired("secrets")

	var rmName string
	var names []string
	remove := clientPatchCmd("remove -n NAME --secret-names SECRET ...", "Remove an app's secrets",
		"  cove containerapp secret remove -n triage-backend --secret-names api-token",
		secretCols, &rmName, func(cmd *cobra.Command, c *control.Client, _ *spec.ContainerApp) (any, error) {
			secrets, err := appSecrets(cmd, c, rmName)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				i := slices.IndexFunc(secrets, func(s spec.Secret) bool { return s.Name == n })
				if i < 0 {
					return nil, fmt.Errorf("app %s has no secret %q; `cove containerapp secret list -n %s` lists them", rmName, n, rmName)
				}
				secrets = slices.Delete(secrets, i, i+1)
			}
			return configPatch(map[string]any{"secrets": secrets}), nil
		}, secretNames)
	remove.Flags().StringArrayVar(&names, "secret-names", nil, "the secrets to remove, space-separated")
	_ = remove.MarkFlagRequired("secret-names")
	cmd.AddCommand(list, show, set, remove)
	return cmd
}

// withIngress is the app's ingress, or an error that says how to give it
// one.
func withIngress(app *spec.ContainerApp) (*spec.Ingress, error) {
	if app.Properties.Configuration == nil || app.Properties.Configuration.Ingress == nil {
		return nil, fmt.Errorf("app %s has no ingress; enable it with `cove containerapp ingress enable -n %s --type external --target-port PORT`", app.Name, app.Name)
	}
	return app.Properties.Configuration.Ingress, nil
}

// ingressPatch is a merge patch of the app's ingress fields.
func ingressPatch(fields map[string]any) map[string]any {
	return configPatch(map[string]any{"ingress": fields})
}

// ingressVerb is a write verb on one part of an app's ingress: change
// returns the ingress fields to patch, view the part to print.
func ingressVerb(use, short, example string, cols []tableCol, name *string,
	change func(cmd *cobra.Command, in *spec.Ingress) (map[string]any, error), view func(in *spec.Ingress) any) *cobra.Command {
	return patchCmd(use, short, example, cols, name, func(cmd *cobra.Command, app *spec.ContainerApp) (any, error) {
		in, err := withIngress(app)
		if err != nil {
			return nil, err
		}
		fields, err := change(cmd, in)
		if err != nil {
			return nil, err
		}
		return ingressPatch(fields), nil
	}, func(app *spec.ContainerApp) any { return view(ingressOf(app)) })
}

// ingressRead is a read verb of one part of an app's ingress.
func ingressRead(use, short string, cols []tableCol, name *string, view func(in *spec.Ingress) any) *cobra.Command {
	cmd := newARMCmd(use, short, cols, func(cmd *cobra.Command, c *control.Client) (any, error) {
		app, err := getApp(cmd, c, *name)
		if err != nil {
			return nil, err
		}
		in, err := withIngress(app)
		if err != nil {
			return nil, err
		}
		return view(in), nil
	})
	nameFlag(cmd, name, "the app's name")
	return cmd
}

// trafficOf is the traffic as az shows it: [] without any.
func trafficOf(in *spec.Ingress) any {
	if in.Traffic == nil {
		return []spec.TrafficWeight{}
	}
	return in.Traffic
}

// newTrafficSetCmd is `ingress traffic set`.
func newTrafficSetCmd() *cobra.Command {
	var name string
	var revs, labels []string
	cmd := ingressVerb("set -n NAME [--revision-weight REV=N|latest=N ...] [--label-weight LABEL=N ...]",
		"Split an app's traffic between revisions and labels; it applies at once",
		"  cove containerapp ingress traffic set -n web --revision-weight web--v1=80 latest=20",
		trafficCols, &name, func(cmd *cobra.Command, in *spec.Ingress) (map[string]any, error) {
			if len(revs) == 0 && len(labels) == 0 {
				return nil, fmt.Errorf("give --revision-weight REV=N (latest=N for the latest revision) or --label-weight LABEL=N")
			}
			var traffic []spec.TrafficWeight
			for _, kv := range revs {
				rev, w, err := weight("--revision-weight", kv)
				if err != nil {
					return nil, err
				}
				tw := spec.TrafficWeight{RevisionName: rev, Weight: w}
				if rev == "latest" {
					tw = spec.TrafficWeight{LatestRevision: true, Weight: w}
				}
				traffic = append(traffic, tw)
			}
			for _, kv := range labels {
				label, w, err := weight("--label-weight", kv)
				if err != nil {
					return nil, err
				}
				i := slices.IndexFunc(in.Traffic, func(tw spec.TrafficWeight) bool { return tw.Label == label })
				if i < 0 {
					return nil, fmt.Errorf("app %s has no label %q; add it with `cove containerapp revision label add`", name, label)
				}
				tw := in.Traffic[i]
				tw.Weight = w
				traffic = append(traffic, tw)
			}
			// A labelled entry no flag names keeps its label at 0%.
			for _, tw := range in.Traffic {
				if tw.Label != "" && !slices.ContainsFunc(traffic, func(t spec.TrafficWeight) bool { return t.Label == tw.Label }) {
					tw.Weight = 0
					traffic = append(traffic, tw)
				}
			}
			sum := 0
			for _, tw := range traffic {
				sum += tw.Weight
			}
			if sum != 100 {
				return nil, fmt.Errorf("the weights add up to %d; make them add up to 100", sum)
			}
			return map[string]any{"traffic": traffic}, nil
		}, trafficOf)
	cmd.Flags().StringArrayVar(&revs, "revision-weight", nil, "REVISION=WEIGHT (latest=WEIGHT for the latest revision), space-separated")
	cmd.Flags().StringArrayVar(&labels, "label-weight", nil, "LABEL=WEIGHT, space-separated")
	return cmd
}

// weight parses KEY=N of flag.
func weight(flag, kv string) (string, int, error) {
	k, v, ok := strings.Cut(kv, "=")
	n, err := strconv.Atoi(v)
	if !ok || k == "" || err != nil || n < 0 || n > 100 {
		return "", 0, fmt.Errorf("%s %q: write NAME=WEIGHT, the weight from 0 to 100", flag, kv)
	}
	return k, n, nil
}

var restrictionCols = []tableCol{{"Name", "name"}, {"IpAddressRange", "ipAddressRange"}, {"Action", "action"}, {"Description", "description"}}

// restrictionsOf are the ingress's IP rules: [] without any.
func restrictionsOf(in *spec.Ingress) any {
	if in.IPSecurityRestrictions == nil {
		return []spec.IPSecurityRestriction{}
	}
	return in.IPSecurityRestrictions
}

func newAccessRestrictionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "access-restriction", Short: "Manage the IP rules of an app's ingress", Args: cobra.NoArgs}
	var lname string
	list := ingressRead("list -n NAME", "List the IP rules", restrictionCols, &lname, restrictionsOf)

	var sname, rule, ip, action, desc string
	set := ingressVerb("set -n NAME --rule-name RULE --ip-address CIDR --action Allow|Deny [--description TEXT]",
		"Add or change an IP rule; it applies at once",
		"  cove containerapp ingress access-restriction set -n web --rule-name office --ip-address 192.168.1.0/24 --action Allow",
		restrictionCols, &sname, func(_ *cobra.Command, in *spec.Ingress) (map[string]any, error) {
			if action != "Allow" && action != "Deny" {
				return nil, fmt.Errorf("--action %q: use Allow or Deny", action)
			}
			rules := slices.Clone(in.IPSecurityRestrictions)
			r := spec.IPSecurityRestriction{Name: rule, IPAddressRange: ip, Action: action, Description: desc}
			if i := slices.IndexFunc(rules, func(x spec.IPSecurityRestriction) bool { return x.Name == rule }); i >= 0 {
				rules[i] = r
			} else {
				rules = append(rules, r)
			}
			for _, x := range rules {
				if x.Action != action {
					return nil, fmt.Errorf("app %s's rule %s says %s: all the IP rules of an app allow, or all deny; remove it first", sname, x.Name, x.Action)
				}
			}
			return map[string]any{"ipSecurityRestrictions": rules}, nil
		}, restrictionsOf)
	set.Flags().StringVar(&rule, "rule-name", "", "the rule's name")
	set.Flags().StringVar(&ip, "ip-address", "", "the address or CIDR range, e.g. 192.168.1.0/24")
	set.Flags().StringVar(&action, "action", "", "Allow or Deny")
	set.Flags().StringVar(&desc, "description", "", "what the rule is for")
	for _, f := range []string{"rule-name", "ip-address", "action"} {
		_ = set.MarkFlagRequired(f)
	}

	var rname, rrule string
	remove := ingressVerb("remove -n NAME --rule-name RULE", "Remove an IP rule; it applies at once",
		"  cove containerapp ingress access-restriction remove -n web --rule-name office",
		restrictionCols, &rname, func(_ *cobra.Command, in *spec.Ingress) (map[string]any, error) {
			i := slices.IndexFunc(in.IPSecurityRestrictions, func(x spec.IPSecurityRestriction) bool { return x.Name == rrule })
			if i < 0 {
				return nil, fmt.Errorf("app %s has no IP rule %q; `cove containerapp ingress access-restriction list -n %s` lists them", rname, rrule, rname)
			}
			return map[string]any{"ipSecurityRestrictions": slices.Delete(slices.Clone(in.IPSecurityRestrictions), i, i+1)}, nil
		}, restrictionsOf)
	remove.Flags().StringVar(&rrule, "rule-name", "", "the rule's name")
	_ = remove.MarkFlagRequired("rule-name")
	cmd.AddCommand(list, set, remove)
	return cmd
}

var corsCols = []tableCol{
	{"AllowedOrigins", "join(', ', allowedOrigins || `[]`)"}, {"AllowedMethods", "join(', ', allowedMethods || `[]`)"},
	{"MaxAge", "maxAge"}, {"AllowCredentials", "allowCredentials"},
}

// corsOf is the ingress's CORS policy ({} without one).
func corsOf(in *spec.Ingress) any {
	if in.CORSPolicy == nil {
		return map[string]any{}
	}
	return in.CORSPolicy
}

// corsFlags are the CORS policy's flags, named as az's.
type corsFlags struct {
	origins, methods, headers, expose []string
	maxAge                            int
	credentials                       bool
}

func (f *corsFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.origins, "allowed-origins", nil, "origins allowed, space-separated (* for any)")
	fl.StringArrayVar(&f.methods, "allowed-methods", nil, "methods allowed, space-separated")
	fl.StringArrayVar(&f.headers, "allowed-headers", nil, "request headers allowed, space-separated")
	fl.StringArrayVar(&f.expose, "expose-headers", nil, "response headers exposed, space-separated")
	fl.IntVar(&f.maxAge, "max-age", 0, "seconds a preflight answer is cached")
	fl.BoolVar(&f.credentials, "allow-credentials", false, "allow credentials")
}

// policy is the CORS policy cur becomes with the flags given.
func (f *corsFlags) policy(cmd *cobra.Command, cur *spec.CORSPolicy) *spec.CORSPolicy {
	p := spec.CORSPolicy{}
	if cur != nil {
		p = *cur
	}
	changed := cmd.Flags().Changed
	if changed("allowed-origins") {
		p.AllowedOrigins = f.origins
	}
	if changed("allowed-methods") {
		p.AllowedMethods = f.methods
	}
	if changed("allowed-headers") {
		p.AllowedHeaders = f.headers
	}
	if changed("expose-headers") {
		p.ExposeHeaders = f.expose
	}
	if changed("max-age") {
		p.MaxAge = f.maxAge
	}
	if changed("allow-credentials") {
		p.AllowCredentials = f.credentials
	}
	return &p
}

func newCORSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cors", Short: "Manage the CORS policy of an app's ingress", Args: cobra.NoArgs}
	var ename string
	var ef corsFlags
	enable := ingressVerb("enable -n NAME --allowed-origins ORIGIN ... [--allowed-methods ...] [--allowed-headers ...] [--expose-headers ...] [--max-age N] [--allow-credentials]",
		"Set the CORS policy, which the edge answers preflights with; it applies at once",
		"  cove containerapp ingress cors enable -n web --allowed-origins https://a.example https://b.example --allowed-methods GET POST",
		corsCols, &ename, func(cmd *cobra.Command, _ *spec.Ingress) (map[string]any, error) {
			return map[string]any{"corsPolicy": ef.policy(cmd, nil)}, nil
		}, corsOf)
	ef.add(enable)
	_ = enable.MarkFlagRequired("allowed-origins")

	var uname string
	var uf corsFlags
	update := ingressVerb("update -n NAME [--allowed-origins ...] [--allowed-methods ...] [--allowed-headers ...] [--expose-headers ...] [--max-age N] [--allow-credentials]",
		"Change parts of the CORS policy; it applies at once",
		"  cove containerapp ingress cors update -n web --max-age 600",
		corsCols, &uname, func(cmd *cobra.Command, in *spec.Ingress) (map[string]any, error) {
			if in.CORSPolicy == nil {
				return nil, fmt.Errorf("app %s has no CORS policy; set one with `cove containerapp ingress cors enable -n %s --allowed-origins ...`", uname, uname)
			}
			return map[string]any{"corsPolicy": uf.policy(cmd, in.CORSPolicy)}, nil
		}, corsOf)
	uf.add(update)

	var dname string
	disable := ingressVerb("disable -n NAME", "Remove the CORS policy; it applies at once",
		"  cove containerapp ingress cors disable -n web",
		corsCols, &dname, func(*cobra.Command, *spec.Ingress) (map[string]any, error) {
			return map[string]any{"corsPolicy": nil}, nil
		}, corsOf)
	var sname string
	show := ingressRead("show -n NAME", "Show the CORS policy", corsCols, &sname, corsOf)
	cmd.AddCommand(enable, update, disable, show)
	return cmd
}

var stickyCols = []tableCol{{"Affinity", "affinity"}}

// stickyOf is the ingress's session affinity, none without any.
func stickyOf(in *spec.Ingress) any {
	if in.StickySessions == nil || in.StickySessions.Affinity == "" {
		return spec.StickySessions{Affinity: "none"}
	}
	return in.StickySessions
}

func newStickyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sticky-sessions", Short: "Manage session affinity of an app's ingress", Args: cobra.NoArgs}
	var name, affinity string
	set := ingressVerb("set -n NAME --affinity sticky|none", "Set session affinity; it applies at once",
		"  cove containerapp ingress sticky-sessions set -n web --affinity sticky",
		stickyCols, &name, func(*cobra.Command, *spec.Ingress) (map[string]any, error) {
			if affinity != "sticky" && affinity != "none" {
				return nil, fmt.Errorf("--affinity %q: use sticky or none", affinity)
			}
			return map[string]any{"stickySessions": spec.StickySessions{Affinity: affinity}}, nil
		}, stickyOf)
	set.Flags().StringVar(&affinity, "affinity", "", "sticky or none")
	_ = set.MarkFlagRequired("affinity")
	var sname string
	show := ingressRead("show -n NAME", "Show session affinity", stickyCols, &sname, stickyOf)
	cmd.AddCommand(set, show)
	return cmd
}
