package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cove-env/cove/internal/control"
)

func newValidateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate [-f FILE]",
		Short: "Check the environment file and every file it references",
		Long: `Check cove.yaml, each app's container app YAML and each component file without
running anything: unknown fields, wrong types, invalid values, unknown
component types, missing files. Every problem is printed at once as
file:line:column: field path: what is wrong and how to fix it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			file = control.EnvFile(file)
			env, err := loadEnv(cmd, file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: %d app(s), %d component(s)\n", file, len(env.Apps), len(env.Components))
			return nil
		},
	}
	envFileFlag(cmd, &file)
	return cmd
}
