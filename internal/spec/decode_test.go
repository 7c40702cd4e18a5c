package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sample is a small type tree for exercising the decoder on its own.
type sample struct {
	Name   string            `json:"name"`
	Port   int               `json:"port,omitempty"`
	Ratio  float64           `json:"ratio,omitempty"`
	On     bool              `json:"on,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
	Items  []sampleItem      `json:"items,omitempty"`
	Nested *sampleItem       `json:"nested,omitempty"`
	Limit  *int              `json:"limit,omitempty"`
	sampleEmbedded
}

type sampleEmbedded struct {
	Extra string `json:"extra,omitempty"`
}

type sampleItem struct {
	ID    string `json:"id"`
	Count int8   `json:"count,omitempty"`
}

func decodeSample(t *testing.T, src string) (sample, *decoder) {
	t.Helper()
	d := newDecoder("f.yaml")
	var s sample
	if root := d.parse([]byte(src)); root != nil {
		d.decodeDocument(root, &s)
	}
	return s, d
}

func TestDecoderValues(t *testing.T) {
	limit := 7
	tests := []struct {
		name string
		src  string
		want sample
	}{
		{
			name: "scalars of every kind",
			src:  "name: x\nport: 0x1F\nratio: 2\non: true\nlimit: 7\nextra: e\n",
			want: sample{Name: "x", Port: 31, Ratio: 2, On: true, Limit: &limit, sampleEmbedded: sampleEmbedded{Extra: "e"}},
		},
		{
			name: "numbers and booleans are accepted as strings, keeping their text",
			src:  "name: 1.10\ntags: {a: 6379, b: true, c: ~}\n",
			want: sample{Name: "1.10", Tags: map[string]string{"a": "6379", "b": "true", "c": ""}},
		},
		{
			name: "lists, pointers and nulls",
			src:  "name: x\nitems:\n  - id: a\n    count: 3\n  - id: b\nnested: {id: n}\nlimit: null\n",
			want: sample{Name: "x", Items: []sampleItem{{ID: "a", Count: 3}, {ID: "b"}}, Nested: &sampleItem{ID: "n"}},
		},
		{
			name: "anchors, aliases and merge keys",
			src: y(`
base: &base {id: shared, count: 2}
name: x
items:
  - *base
  - <<: *base
    id: own
`),
			want: sample{Name: "x", Items: []sampleItem{{ID: "shared", Count: 2}, {ID: "own", Count: 2}}},
		},
		{
			name: "JSON is YAML",
			src:  `{"name": "x", "port": 8080, "items": [{"id": "a"}]}`,
			want: sample{Name: "x", Port: 8080, Items: []sampleItem{{ID: "a"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, d := decodeSample(t, tc.src)
			// "base" in the anchors case is an unknown field; only that may be reported.
			for _, p := range d.probs {
				if p.Path != "base" {
					t.Errorf("unexpected problem: %s", p)
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(sample{})); diff != "" {
				t.Errorf("decoded value (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecoderProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "unknown field suggests the closest name",
			src:  "name: x\nnmae: y\n",
			want: []string{`2:1 nmae: unknown field; did you mean "name"?`},
		},
		{
			name: "unknown field with nothing close lists the fields",
			src:  "name: x\nzzzzzzzz: y\n",
			want: []string{"2:1 zzzzzzzz: unknown field; expected one of extra, items, limit, name, nested, on, port, ratio, tags"},
		},
		{
			name: "field names are case-sensitive but a case slip is suggested",
			src:  "Name: x\n",
			want: []string{`1:1 Name: unknown field; did you mean "name"?`},
		},
		{
			name: "a quoted number for an integer",
			src:  "port: \"8080\"\n",
			want: []string{`1:7 port: expected an integer, got string "8080"; write the number without quotes`},
		},
		{
			name: "yes is not a boolean",
			src:  "on: yes\n",
			want: []string{`1:5 on: expected true or false, got string "yes"; use true or false`},
		},
		{
			name: "a float for an integer",
			src:  "port: 80.5\n",
			want: []string{"1:7 port: expected an integer, got number 80.5"},
		},
		{
			name: "an integer out of its type's range",
			src:  "items: [{id: a, count: 300}]\n",
			want: []string{"1:24 items[0].count: 300 is out of range"},
		},
		{
			name: "a mapping for a string",
			src:  "name: {a: b}\n",
			want: []string{"1:7 name: expected a string, got a mapping"},
		},
		{
			name: "a string for a list",
			src:  "items: foo\n",
			want: []string{`1:8 items: expected a list, got string "foo"`},
		},
		{
			name: "a list for a mapping",
			src:  "nested: [a]\n",
			want: []string{"1:9 nested: expected a mapping, got a list"},
		},
		{
			name: "a document that is not a mapping",
			src:  "- a\n- b\n",
			want: []string{"1:1 : expected a mapping, got a list"},
		},
		{
			name: "duplicate keys",
			src:  "name: a\nport: 1\nname: b\n",
			want: []string{"3:1 name: duplicate key; it is already set at line 1"},
		},
		{
			name: "duplicate map keys",
			src:  "tags:\n  a: 1\n  a: 2\n",
			want: []string{"3:3 tags.a: duplicate key; it is already set at line 2"},
		},
		{
			name: "problems deep in lists carry the full path",
			src:  "items:\n  - id: a\n  - id: b\n    coutn: 1\n",
			want: []string{`4:5 items[1].coutn: unknown field; did you mean "count"?`},
		},
		{
			name: "a syntax error carries its line",
			src:  "name: x\nitems: [a\nport: 1\n",
			want: []string{"2:0 : invalid YAML: did not find expected ',' or ']'"},
		},
		{
			name: "a tab for indentation",
			src:  "name: x\n\tport: 1\n",
			want: []string{"2:0 : invalid YAML: found a tab character that violates indentation"},
		},
		{
			name: "an empty file",
			src:  "# nothing here\n",
			want: []string{"1:1 : the file is empty"},
		},
		{
			name: "more than one document",
			src:  "name: a\n---\nname: b\n",
			want: []string{"3:1 : the file holds more than one YAML document"},
		},
		{
			name: "every problem is reported, not just the first",
			src:  "nmae: x\nport: x\non: 1\nitems: {}\n",
			want: []string{
				`1:1 nmae: unknown field; did you mean "name"?`,
				`2:7 port: expected an integer, got string "x"`,
				"3:5 on: expected true or false, got number 1",
				"4:8 items: expected a list, got a mapping",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, d := decodeSample(t, tc.src)
			checkProblems(t, "problems", d.probs.sorted(), tc.want)
			for _, p := range d.probs {
				if p.File != "f.yaml" || p.Line < 1 {
					t.Errorf("problem without file or line: %#v", p)
				}
			}
		})
	}
}

func TestDecoderAliasBomb(t *testing.T) {
	// Each level multiplies the expansion by ten: 10^9 nodes if expanded.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("tags:\n  <<: [*a9]\n")
	_, d := decodeSample(t, b.String())
	found := false
	for _, p := range d.probs {
		if strings.Contains(p.Message, "too many aliases") || strings.Contains(p.Message, "merge key") {
			found = true
		}
	}
	if !found {
		t.Errorf("alias bomb not reported; problems: %v", briefs(d.probs))
	}
}

func TestParentPath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "field", in: "a.b.c", want: "a.b"},
		{name: "index", in: "a.b[3]", want: "a.b"},
		{name: "field after index", in: "a[0].b", want: "a[0]"},
		{name: "quoted key", in: `tags["app.kubernetes.io/name"]`, want: "tags"},
		{name: "top", in: "name", want: ""},
		{name: "root", in: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parentPath(tc.in); got != tc.want {
				t.Errorf("parentPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"image", "name", "env", "resources", "volumeMounts", "probes"}
	tests := []struct{ name, in, want string }{
		{name: "one letter doubled", in: "imagee", want: "image"},
		{name: "transposed", in: "naem", want: "name"},
		{name: "transposed twice is too far for a short word", in: "anem", want: ""},
		{name: "case", in: "VolumeMounts", want: "volumeMounts"},
		{name: "two edits in a long word", in: "resourses", want: "resources"},
		{name: "nothing close", in: "command2000", want: ""},
		{name: "short words need a near match", in: "xyz", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := suggest(tc.in, fields); got != tc.want {
				t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestProblemsFormat(t *testing.T) {
	ps := Problems{
		{File: "apps/backend.yaml", Line: 14, Column: 9, Path: "properties.configuration.ingress.transport", Message: `"htpp" is not one of auto, http, http2, tcp`},
		{File: "cove.yaml", Line: 3, Path: "apps", Message: "look here", Severity: SeverityWarning},
		{File: "cove.yaml", Message: "cannot read the environment file: no such file"},
	}
	want := `apps/backend.yaml:14:9: properties.configuration.ingress.transport: "htpp" is not one of auto, http, http2, tcp` + "\n" +
		"cove.yaml:3: apps: warning: look here\n" +
		"cove.yaml: cannot read the environment file: no such file"
	if got := ps.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if got := len(ps.Errors()); got != 2 {
		t.Errorf("Errors() has %d problems, want 2", got)
	}
	if got := len(ps.Warnings()); got != 1 {
		t.Errorf("Warnings() has %d problems, want 1", got)
	}
	if ps.Warnings().Err() != nil {
		t.Error("Err() of warnings only is not nil")
	}
	if ps.Err() == nil {
		t.Error("Err() with errors is nil")
	}
}

func TestProblemsSorted(t *testing.T) {
	ps := Problems{
		{File: "cove.yaml", Line: 9, Column: 1},
		{File: "b.yaml", Line: 2, Column: 5},
		{File: "cove.yaml", Line: 2, Column: 3},
		{File: "b.yaml", Line: 2, Column: 1},
	}
	var got []string
	for _, p := range ps.sorted() {
		got = append(got, p.String())
	}
	want := []string{"cove.yaml:2:3: ", "cove.yaml:9:1: ", "b.yaml:2:1: ", "b.yaml:2:5: "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
}
