package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/kube"
)

func newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the environment in another platform's format",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newExportKubernetesCmd())
	return cmd
}

func newExportKubernetesCmd() *cobra.Command {
	var file, namespace, domain, dir string
	cmd := &cobra.Command{
		Use:     "kubernetes [-f FILE] [--namespace NS] [--domain DOMAIN] [--output-dir DIR]",
		Aliases: []string{"k8s"},
		Short:   "Write the environment as Kubernetes manifests for Dapr, ingress-nginx and KEDA",
		Long: `Write the environment as Kubernetes manifests, for a cluster running Dapr's
operator, ingress-nginx (for external ingress) and KEDA (for scale rules).
Nothing needs to run: the files are read as cove validate reads them, and a
broken file stops the export with the same file:line errors.

Each app's latest revision becomes a Deployment (the template's images,
env, resources, probes and volumes, with Dapr's pod annotations), a Secret
<app>-secrets of its secrets, a Service <app> (port 80 for HTTP, as
http://<app> in ACA), an Ingress for external HTTP apps at <app>.<domain>
and their custom domains (TLS from the Secret <app>-tls unless allowInsecure
is true), and a KEDA ScaledObject for scale rules KEDA has a scaler for.
Each component becomes a Dapr Component, with a Secret of its own secrets.

cove.yaml's local settings (command, dir, env, local secret values) are
not exported: in a cluster the image is what runs. What cannot be exported
(Key Vault references, HTTP scale rules, components cove runs in its own
process, revision splits) is printed as a warning on stderr.

Without --output-dir the manifests go to stdout as one YAML stream, ready
for kubectl apply -f -; with it, one file per app and components.yaml.`,
		Example: `  cove export kubernetes -f examples/triage/cove.yaml | kubectl apply -f -
  cove export kubernetes --namespace triage --domain apps.example.org --output-dir k8s/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			file = control.EnvFile(file)
			env, err := loadEnv(cmd, file)
			if err != nil {
				return err
			}
			m := kube.Export(env, kube.Options{Namespace: namespace, Domain: domain})
			for _, w := range m.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if dir == "" {
				data, err := kube.Marshal(m.All())
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			paths, err := m.WriteDir(dir)
			for _, p := range paths {
				fmt.Fprintln(cmd.ErrOrStderr(), "wrote", p)
			}
			return err
		},
	}
	envFileFlag(cmd, &file)
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of every object (default: none, kubectl's current namespace)")
	cmd.Flags().StringVar(&domain, "domain", kube.DefaultDomain, "domain of external apps' hosts, <app>.<domain>")
	cmd.Flags().StringVarP(&dir, "output-dir", "o", "", "directory to write <app>.yaml and components.yaml into (default: one stream on stdout)")
	return cmd
}
