package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
	"github.com/cove-env/cove/internal/security"
)

func newEnvCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Show the environment, its Dapr components and its CA",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newEnvCACmd())
	addManagedEnvCmds(cmd)
	return cmd
}

func newEnvCACmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "ca [-f FILE]",
		Short: "Print the path of the environment's CA certificate",
		Long: `Print the path of the certificate authority that signs the edge's HTTPS
certificates, creating the CA if the environment has not run yet. Trust it
to call apps over HTTPS without warnings: pass it to curl --cacert, import it
into a browser, or point SSL_CERT_FILE at it. Replicas trust it already.

The CA lives in the .cove directory beside the environment file and is kept
across runs; delete that directory's ca folder to start over with a new one.`,
		Example: `  curl --cacert "$(cove env ca)" https://web.localhost:8443/`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(control.EnvFile(file))
			if err != nil {
				return fmt.Errorf("environment file %s: %w", file, err)
			}
			// The CA belongs beside an environment file; never create a
			// .cove directory where there is none.
			if _, err := os.Stat(abs); err != nil {
				return fmt.Errorf("environment file: %w", err)
			}
			ca, err := security.LoadOrCreate(control.StateDir(abs))
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ca.CertPath())
			return nil
		},
	}
	envFileFlag(cmd, &file)
	return cmd
}
