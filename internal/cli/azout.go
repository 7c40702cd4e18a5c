package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jmespath/go-jmespath"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// azOutput is az's output flags: -o/--output and --query.
type azOutput struct {
	format string
	query  string
}

// azFormats are the formats -o takes, as az names them.
var azFormats = []string{"json", "jsonc", "yaml", "table", "tsv", "none"}

// addAzFlags adds az's output flags and accepts, with no effect, the
// flags that pick an Azure resource group and environment.
func addAzFlags(cmd *cobra.Command, o *azOutput) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "json", "output format: "+strings.Join(azFormats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(azFormats, cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().StringVar(&o.query, "query", "", "JMESPath query applied to the output, as az's --query")
	azIgnoredFlags(cmd)
}

// azIgnoredFlags accepts, with no effect, the flags that pick an Azure
// resource group and environment.
func azIgnoredFlags(cmd *cobra.Command) {
	var ignored string
	cmd.Flags().StringVarP(&ignored, "resource-group", "g", "", "accepted for az compatibility; cove has one resource group")
	cmd.Flags().StringVar(&ignored, "environment", "", "accepted for az compatibility; cove serves one environment")
}

// tableCol is a column of the table a command prints with -o table and no
// --query: its header and the JMESPath expression of its value in each row.
type tableCol struct {
	header, path string
}

// print writes v in o's format after o's query; cols shape -o table when
// there is no query (with a query, the columns are the result's keys, as
// az's).
func (o azOutput) print(out io.Writer, v any, cols []tableCol) error {
	if !slices.Contains(azFormats, o.format) {
		return fmt.Errorf("unknown output format %q: use one of %s", o.format, strings.Join(azFormats, ", "))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var data any
	if err := json.Unmarshal(raw, &data); err != nil {
		return err
	}
	if o.query != "" {
		if data, err = jmespath.Search(o.query, data); err != nil {
			return fmt.Errorf("--query %q: %w", o.query, err)
		}
		if raw, err = json.Marshal(data); err != nil {
			return err
		}
		cols = nil
	}
	switch o.format {
	case "json", "jsonc":
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		b := buf.Bytes()
		if o.format == "jsonc" && wantColor(out) {
			b = colorJSON(b)
		}
		_, err := out.Write(b)
		return err
	case "yaml":
		return writeYAML(out, raw)
	case "table":
		return writeTable(out, data, cols)
	case "tsv":
		return writeTSV(out, data)
	}
	return nil // none
}

// The colors of -o jsonc, as az's: keys, string values, and the other
// scalars (numbers, true, false, null).
const (
	jsonKeyColor    = "94"
	jsonStringColor = "32"
	jsonScalarColor = "33"
)

// colorJSON paints valid JSON's keys and scalars with ANSI colors.
func colorJSON(b []byte) []byte {
	var out bytes.Buffer
	paint := func(code string, s []byte) {
		out.WriteString("\x1b[" + code + "m")
		out.Write(s)
		out.WriteString("\x1b[0m")
	}
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(b)) // past the closing quote
			k := j
			for k < len(b) && b[k] == ' ' {
				k++
			}
			if k < len(b) && b[k] == ':' {
				paint(jsonKeyColor, b[i:j])
			} else {
				paint(jsonStringColor, b[i:j])
			}
			i = j
		case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
			j := i
			for j < len(b) && !bytes.ContainsRune([]byte(",]} \n"), rune(b[j])) {
				j++
			}
			paint(jsonScalarColor, b[i:j])
			i = j
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.Bytes()
}

// writeYAML writes JSON as block YAML, keeping the order of its keys.
func writeYAML(out io.Writer, raw []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return err
	}
	plainStyle(&n)
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	return enc.Close()
}

// plainStyle drops the flow and quoting styles JSON gave the nodes, so
// they print as block YAML; strings that need quotes keep getting them.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// rows are the items a table or tsv shows: the elements of a list, or one
// value alone.
func rows(data any) []any {
	if l, ok := data.([]any); ok {
		return l
	}
	if data == nil {
		return nil
	}
	return []any{data}
}

// scalar renders a scalar as az's table and tsv do; false for an object
// or a list, which they leave out.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	case float64:
		return fmt.Sprint(x), true
	}
	return "", false
}

// writeTable prints rows as az's table: with cols, one column each; else
// one column per scalar key of the rows' objects, in key order (a list of
// scalars is one column, Result).
func writeTable(out io.Writer, data any, cols []tableCol) error {
	items := rows(data)
	var header []string
	var cells [][]string
	if cols != nil {
		for _, c := range cols {
			header = append(header, c.header)
		}
		for _, it := range items {
			var row []string
			for _, c := range cols {
				v, err := jmespath.Search(c.path, it)
				if err != nil {
					return err
				}
				s, _ := scalar(v)
				row = append(row, s)
			}
			cells = append(cells, row)
		}
	} else {
		var keys []string
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			for k, v := range m {
				if _, ok := scalar(v); ok && !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			header = append(header, strings.ToUpper(k[:1])+k[1:])
		}
		if len(keys) == 0 {
			header = []string{"Result"}
		}
		for _, it := range items {
			var row []string
			if m, ok := it.(map[string]any); ok {
				for _, k := range keys {
					s, _ := scalar(m[k])
					row = append(row, s)
				}
			} else if s, ok := scalar(it); ok && len(keys) == 0 {
				row = []string{s}
			}
			if row != nil {
				cells = append(cells, row)
			}
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	dashes := make([]string, len(header))
	for i, h := range header {
		w := len(h)
		for _, r := range cells {
			w = max(w, len(r[i]))
		}
		dashes[i] = strings.Repeat("-", w)
	}
	fmt.Fprintln(tw, strings.Join(dashes, "\t"))
	for _, r := range cells {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// writeTSV prints rows as az's tsv: an object's scalar values in key
// order, or a list's in its order, tab-separated, one line per item; a
// scalar alone on its line.
func writeTSV(out io.Writer, data any) error {
	for _, it := range rows(data) {
		if m, ok := it.(map[string]any); ok {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var vals []string
			for _, k := range keys {
				// Nulls are left out as objects are, so that rows whose
				// nested value is missing line up with the others.
				if s, ok := scalar(m[k]); ok && m[k] != nil {
					vals = append(vals, s)
				}
			}
			fmt.Fprintln(out, strings.Join(vals, "\t"))
			continue
		}
		if l, ok := it.([]any); ok {
			var vals []string
			for _, v := range l {
				if s, ok := scalar(v); ok {
					vals = append(vals, s)
				}
			}
			fmt.Fprintln(out, strings.Join(vals, "\t"))
			continue
		}
		if s, ok := scalar(it); ok {
			fmt.Fprintln(out, s)
		}
	}
	return nil
}

// azListFlags take several space-separated values after them, as az's
// do (--env-vars A=1 B=2).
var azListFlags = map[string]bool{
	"--env-vars": true, "--set-env-vars": true, "--secrets": true, "--secret-names": true,
	"--revision-weight": true, "--label-weight": true,
	"--allowed-origins": true, "--allowed-methods": true, "--allowed-headers": true, "--expose-headers": true,
}

// expandAzLists rewrites the extra values of az's list flags in a
// `cove containerapp` command line as repetitions of the flag, which cobra
// collects: --env-vars A=1 B=2 becomes --env-vars A=1 --env-vars B=2.
func expandAzLists(args []string) []string {
	if len(args) == 0 || args[0] != "containerapp" {
		return args
	}
	out := make([]string, 0, len(args))
	flag, first := "", false
	for i, a := range args {
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case flag != "" && !strings.HasPrefix(a, "-"):
			if !first {
				out = append(out, flag)
			}
			out, first = append(out, a), false
			continue
		}
		flag, first = "", false
		if name, _, hasValue := strings.Cut(a, "="); azListFlags[name] {
			flag, first = name, !hasValue
		}
		out = append(out, a)
	}
	return out
}
