package file_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/secretstores"
	"github.com/cove-env/cove/internal/components/secretstores/conformance"
	"github.com/cove-env/cove/internal/components/secretstores/local/file"
)

const nested = `{
  "api-key": "k-123",
  "db": {"user": "admin", "password": "p@ss", "pool": {"size": 10}},
  "hosts": ["a", "b"],
  "flag": true,
  "empty": null
}`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func open(t *testing.T, props map[string]string) (*file.Store, error) {
	t.Helper()
	st := &file.Store{}
	err := st.Init(t.Context(), components.Metadata{Name: "files", Type: file.Type, Properties: props})
	return st, err
}

// multiValued is what nested holds read with multiValued and "." as the
// separator.
var multiValued = conformance.Fixture{
	"api-key": {"api-key": "k-123"},
	"db":      {"user": "admin", "password": "p@ss", "pool.size": "10"},
	"hosts":   {"0": "a", "1": "b"},
	"flag":    {"flag": "true"},
	"empty":   {"empty": ""},
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]string
		secrets conformance.Fixture
	}{
		{
			name:  "flat with the default separator",
			props: map[string]string{},
			secrets: conformance.Fixture{
				"api-key":      {"api-key": "k-123"},
				"db:user":      {"db:user": "admin"},
				"db:password":  {"db:password": "p@ss"},
				"db:pool:size": {"db:pool:size": "10"},
				"hosts:0":      {"hosts:0": "a"},
				"hosts:1":      {"hosts:1": "b"},
				"flag":         {"flag": "true"},
				"empty":        {"empty": ""},
			},
		},
		{
			name:  "flat with a custom separator",
			props: map[string]string{"nestedSeparator": "__"},
			secrets: conformance.Fixture{
				"api-key":        {"api-key": "k-123"},
				"db__user":       {"db__user": "admin"},
				"db__password":   {"db__password": "p@ss"},
				"db__pool__size": {"db__pool__size": "10"},
				"hosts__0":       {"hosts__0": "a"},
				"hosts__1":       {"hosts__1": "b"},
				"flag":           {"flag": "true"},
				"empty":          {"empty": ""},
			},
		},
		{
			name:    "multi-valued",
			props:   map[string]string{"multiValued": "true", "nestedSeparator": "."},
			secrets: multiValued,
		},
		{
			// daprd reads y, yes, on, 1 (any case) as true too.
			name:    "multi-valued in another of Dapr's forms",
			props:   map[string]string{"MultiValued": "Yes", "nestedSeparator": "."},
			secrets: multiValued,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, nested)
			conformance.Run(t, func(t *testing.T) secretstores.Store {
				props := map[string]string{"secretsFile": path}
				for k, v := range tt.props {
					props[k] = v
				}
				st, err := open(t, props)
				if err != nil {
					t.Fatalf("init: %v", err)
				}
				return st
			}, conformance.Options{Secrets: tt.secrets, Missing: "nope", BulkExact: true})
		})
	}
}

func TestInitErrors(t *testing.T) {
	dup := writeFile(t, `{"a": {"b": "1"}, "a:b": "2"}`)
	bad := writeFile(t, `["not", "an", "object"]`)
	tests := []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"no file named", map[string]string{}, "metadata secretsFile: required"},
		{"file missing", map[string]string{"secretsFile": filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"not an object", map[string]string{"secretsFile": bad}, "not a JSON object"},
		{"duplicate after flattening", map[string]string{"secretsFile": dup}, `duplicate secret name "a:b"`},
		{"bad multiValued", map[string]string{"secretsFile": dup, "multiValued": "maybe"}, `metadata multiValued "maybe": not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(t, tt.props)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Init = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestResultsAreCopies(t *testing.T) {
	st, err := open(t, map[string]string{"secretsFile": writeFile(t, nested), "multiValued": "true"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetSecret(t.Context(), secretstores.GetRequest{Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	got["user"] = "changed"
	again, err := st.GetSecret(t.Context(), secretstores.GetRequest{Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("admin", again["user"]); diff != "" {
		t.Errorf("a caller's change leaked into the store (-want +got):\n%s", diff)
	}
}
