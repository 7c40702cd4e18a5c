package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// printAs writes v as indented JSON for `-o json`; for the human format
// (its name, or empty) it calls human. Any other format is an error that
// names both.
func printAs(out io.Writer, format, humanName string, v any, human func() error) error {
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case humanName, "":
		return human()
	default:
		return fmt.Errorf("unknown output format %q: use %s or json", format, humanName)
	}
}
