// Command cove runs an Azure Container Apps environment on one machine.
// See `cove --help` and the docs/ directory.
package main

import (
	"os"

	"github.com/cove-env/cove/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
