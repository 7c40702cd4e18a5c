package conformance

import (
	"slices"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components/state"
)

// queryDocs are the values the query cases search, by key name.
var queryDocs = map[string]string{
	"alice": `{"name":"alice","person":{"org":"Dev Ops","id":1036},"state":"WA","active":true,"rank":3}`,
	"bob":   `{"name":"bob","person":{"org":"Finance","id":"1036"},"state":"CA","active":false,"rank":1}`,
	"carol": `{"name":"carol","person":{"org":"Dev Ops","id":1037},"state":"CA","active":true,"rank":2.5}`,
	"dave":  `{"name":"dave","person":{"org":"Hardware","id":1038},"state":"OR","active":null}`,
	"erin":  `{"name":"erin","person":{"org":"Dev Ops","id":1039.0},"state":"WA","active":true,"rank":4}`,
}

// writeQueryDocs stores queryDocs under the fixture's prefix, plus a
// binary value and an unrelated key outside the query's prefix, neither of
// which may ever match.
func (f *fixture) writeQueryDocs() {
	f.t.Helper()
	for name, doc := range queryDocs {
		f.set(f.key("q||"+name), []byte(doc))
	}
	f.set(f.key("q||binary"), []byte{0xff, 0x00, 'W', 'A'})
	f.set(f.key("other||frank"), []byte(`{"name":"frank","state":"WA"}`))
}

func (f *fixture) query(req state.QueryRequest) *state.QueryResponse {
	f.t.Helper()
	req.KeyPrefix = f.prefix + "q||"
	resp, err := f.s.(state.Querier).Query(f.ctx(), &req)
	if err != nil {
		f.t.Fatalf("query: %v", err)
	}
	if resp == nil {
		f.t.Fatal("query: nil response")
	}
	return resp
}

// names returns the key names of results, checking each result's data and
// ETag against a plain read.
func (f *fixture) names(results []state.QueryResult) []string {
	f.t.Helper()
	out := make([]string, 0, len(results))
	for _, r := range results {
		name, ok := strings.CutPrefix(r.Key, f.prefix+"q||")
		if !ok {
			f.t.Fatalf("result key %q is outside the queried prefix", r.Key)
		}
		doc, ok := queryDocs[name]
		if !ok {
			f.t.Fatalf("result %q is not a JSON document the case wrote", r.Key)
		}
		if !f.sameValue(r.Data, []byte(doc)) {
			f.t.Fatalf("result %q data = %s, want %s", name, r.Data, doc)
		}
		if etag := f.want(r.Key, []byte(doc)); r.ETag == nil || *r.ETag != etag {
			f.t.Fatalf("result %q etag = %s, want %q as a read gives", name, ptrString(r.ETag), etag)
		}
		out = append(out, name)
	}
	return out
}

func eq(path string, v any) *state.Filter {
	return &state.Filter{Op: state.FilterEQ, Path: strings.Split(path, "."), Values: []any{v}}
}

func testQueryFilters(f *fixture) {
	f.writeQueryDocs()
	cases := []struct {
		name   string
		filter *state.Filter
		want   []string
	}{
		{"no filter", nil, []string{"alice", "bob", "carol", "dave", "erin"}},
		{"eq string", eq("state", "WA"), []string{"alice", "erin"}},
		{"eq nested", eq("person.org", "Dev Ops"), []string{"alice", "carol", "erin"}},
		{"eq number is not eq string", eq("person.id", float64(1036)), []string{"alice"}},
		{"eq string is not eq number", eq("person.id", "1036"), []string{"bob"}},
		{"eq integer matches its decimal form", eq("person.id", float64(1039)), []string{"erin"}},
		{"eq true", eq("active", true), []string{"alice", "carol", "erin"}},
		{"eq false is not null", eq("active", false), []string{"bob"}},
		{"eq null is not missing", eq("active", nil), []string{"dave"}},
		{"eq missing field", eq("nothing.here", "x"), nil},
		{"in", &state.Filter{Op: state.FilterIN, Path: []string{"state"}, Values: []any{"CA", "OR"}}, []string{"bob", "carol", "dave"}},
		{"and", &state.Filter{Op: state.FilterAND, Filters: []*state.Filter{eq("person.org", "Dev Ops"), eq("state", "CA")}}, []string{"carol"}},
		{"or", &state.Filter{Op: state.FilterOR, Filters: []*state.Filter{eq("name", "bob"), eq("state", "OR")}}, []string{"bob", "dave"}},
		{"nested and in or", &state.Filter{Op: state.FilterOR, Filters: []*state.Filter{
			{Op: state.FilterAND, Filters: []*state.Filter{eq("state", "WA"), eq("rank", float64(4))}},
			eq("name", "bob"),
		}}, []string{"bob", "erin"}},
		{"quotes in values are data", eq("name", `alice' OR '1'='1`), nil},
	}
	for _, c := range cases {
		got := f.names(f.query(state.QueryRequest{Filter: c.filter}).Results)
		slices.Sort(got)
		if diff := cmp.Diff(c.want, got, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })); diff != "" {
			f.t.Errorf("%s: results (-want +got):\n%s", c.name, diff)
		}
	}
}

func testQueryPages(f *fixture) {
	f.writeQueryDocs()
	byRank := []state.SortKey{{Path: []string{"rank"}}}
	cases := []struct {
		name string
		sort []state.SortKey
		want []string
	}{
		{"ascending, missing last", byRank, []string{"bob", "carol", "alice", "erin", "dave"}},
		{"descending, missing first", []state.SortKey{{Path: []string{"rank"}, Descending: true}}, []string{"dave", "erin", "alice", "carol", "bob"}},
		{"two keys", []state.SortKey{{Path: []string{"state"}}, {Path: []string{"name"}, Descending: true}}, []string{"carol", "bob", "dave", "erin", "alice"}},
	}
	for _, c := range cases {
		got := f.names(f.query(state.QueryRequest{Sort: c.sort}).Results)
		if !slices.Equal(got, c.want) {
			f.t.Errorf("%s: order %v, want %v", c.name, got, c.want)
		}
	}

	// Pages of two walk the sorted results without gaps or repeats, and
	// the last page returns no token.
	var all []string
	token := ""
	for page := 0; ; page++ {
		if page > 5 {
			f.t.Fatal("paging does not end")
		}
		resp := f.query(state.QueryRequest{Sort: byRank, Limit: 2, Token: token})
		all = append(all, f.names(resp.Results)...)
		if len(resp.Results) > 2 {
			f.t.Fatalf("page %d has %d results, limit 2", page, len(resp.Results))
		}
		if resp.Token == "" {
			break
		}
		token = resp.Token
	}
	if want := []string{"bob", "carol", "alice", "erin", "dave"}; !slices.Equal(all, want) {
		f.t.Fatalf("pages gave %v, want %v", all, want)
	}

	// A filter and a page together.
	resp := f.query(state.QueryRequest{Filter: eq("person.org", "Dev Ops"), Sort: byRank, Limit: 2})
	if got := f.names(resp.Results); !slices.Equal(got, []string{"carol", "alice"}) || resp.Token == "" {
		f.t.Fatalf("first filtered page %v token %q, want [carol alice] and a token", got, resp.Token)
	}
	resp = f.query(state.QueryRequest{Filter: eq("person.org", "Dev Ops"), Sort: byRank, Limit: 2, Token: resp.Token})
	if got := f.names(resp.Results); !slices.Equal(got, []string{"erin"}) || resp.Token != "" {
		f.t.Fatalf("second filtered page %v token %q, want [erin] and no token", got, resp.Token)
	}

	// A deleted key no longer matches.
	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: f.key("q||erin")}); err != nil {
		f.t.Fatalf("delete: %v", err)
	}
	if got := f.names(f.query(state.QueryRequest{Filter: eq("state", "WA")}).Results); !slices.Equal(got, []string{"alice"}) {
		f.t.Fatalf("after deleting erin: %v, want [alice]", got)
	}
}

func testQueryRejects(f *fixture) {
	cases := []struct {
		name string
		req  state.QueryRequest
	}{
		{"malformed token", state.QueryRequest{Limit: 1, Token: "not-a-token"}},
		{"negative limit", state.QueryRequest{Limit: -1}},
		{"unknown operator", state.QueryRequest{Filter: &state.Filter{Op: "GT", Path: []string{"rank"}, Values: []any{float64(1)}}}},
		{"eq with two values", state.QueryRequest{Filter: &state.Filter{Op: state.FilterEQ, Path: []string{"a"}, Values: []any{"x", "y"}}}},
		{"object value", state.QueryRequest{Filter: eq("a", map[string]any{"b": 1})}},
		{"empty and", state.QueryRequest{Filter: &state.Filter{Op: state.FilterAND}}},
	}
	for _, c := range cases {
		c.req.KeyPrefix = f.prefix
		if _, err := f.s.(state.Querier).Query(f.ctx(), &c.req); err == nil {
			f.t.Errorf("%s: query accepted, want an error", c.name)
		}
	}
}
