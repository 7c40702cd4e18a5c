package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestAzOutput(t *testing.T) {
	type app struct {
		Name    string         `json:"name"`
		Active  bool           `json:"active"`
		Weight  int            `json:"weight"`
		Details map[string]any `json:"details"`
	}
	apps := []app{{"web", true, 100, map[string]any{"port": 80}}, {"api", false, 0, nil}}
	cols := []tableCol{{"Name", "name"}, {"Port", "details.port"}}
	for _, tc := range []struct {
		format, query, want string
	}{
		{"json", "[0].details", "{\n  \"port\": 80\n}\n"},
		{"jsonc", "[1].name", "\"api\"\n"},
		// Keys keep the order of the resource, not the alphabet's.
		{"yaml", "", "- name: web\n  active: true\n  weight: 100\n  details:\n    port: 80\n- name: api\n  active: false\n  weight: 0\n  details: null\n"},
		{"table", "", "Name  Port\n----  ----\nweb   80\napi   \n"},
		{"table", "[].{name: name, on: active}", "Name  On\n----  -----\nweb   True\napi   False\n"},
		{"table", "[].name", "Result\n------\nweb\napi\n"},
		{"tsv", "", "True\tweb\t100\nFalse\tapi\t0\n"},
		{"tsv", "[].[name, weight]", "web\t100\napi\t0\n"},
		{"none", "", ""},
	} {
		var buf bytes.Buffer
		if err := (azOutput{format: tc.format, query: tc.query}).print(&buf, apps, cols); err != nil {
			t.Errorf("-o %s --query %q: %v", tc.format, tc.query, err)
			continue
		}
		if got := buf.String(); got != tc.want {
			t.Errorf("-o %s --query %q:\n%q\nwant\n%q", tc.format, tc.query, got, tc.want)
		}
	}
	for _, o := range []azOutput{{format: "xml"}, {format: "json", query: "[?"}} {
		if err := o.print(&bytes.Buffer{}, apps, nil); err == nil {
			t.Errorf("%+v: no error", o)
		} else if !strings.Contains(err.Error(), "xml") && !strings.Contains(err.Error(), "--query") {
			t.Errorf("%+v: %v, want it to name the flag", o, err)
		}
	}
}

func TestExpandAzLists(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"containerapp create -n a --env-vars A=1 B=2 --secrets s=1 t=2 -o json", "containerapp create -n a --env-vars A=1 --env-vars B=2 --secrets s=1 --secrets t=2 -o json"},
		{"containerapp update -n a --set-env-vars=A=1 B=2", "containerapp update -n a --set-env-vars=A=1 --set-env-vars B=2"},
		{"containerapp create -n a --env-vars", "containerapp create -n a --env-vars"},
		{"exec a -- x --env-vars A=1 B=2", "exec a -- x --env-vars A=1 B=2"},
		{"containerapp x --secrets a -- b c", "containerapp x --secrets a -- b c"},
	} {
		if got := strings.Join(expandAzLists(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestColorJSON(t *testing.T) {
	in := "{\n  \"name\": \"web \\\"x\\\"\",\n  \"n\": -1.5,\n  \"ok\": true,\n  \"l\": [null, \"a\"]\n}\n"
	key, str, sc := "\x1b[94m", "\x1b[32m", "\x1b[33m"
	end := "\x1b[0m"
	want := "{\n  " + key + `"name"` + end + ": " + str + `"web \"x\""` + end + ",\n  " +
		key + `"n"` + end + ": " + sc + "-1.5" + end + ",\n  " +
		key + `"ok"` + end + ": " + sc + "true" + end + ",\n  " +
		key + `"l"` + end + ": [" + sc + "null" + end + ", " + str + `"a"` + end + "]\n}\n"
	if got := string(colorJSON([]byte(in))); got != want {
		t.Errorf("colorJSON:\n%q\nwant\n%q", got, want)
	}
}
