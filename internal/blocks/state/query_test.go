package state_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlite"
)

func TestParseQuery(t *testing.T) {
	eq := func(v any, path ...string) *cstate.Filter {
		return &cstate.Filter{Op: cstate.FilterEQ, Path: path, Values: []any{v}}
	}
	tests := []struct {
		name    string
		query   string
		want    *cstate.QueryRequest
		wantErr string
	}{
		{name: "empty", query: `{}`, want: &cstate.QueryRequest{}},
		{name: "eq nested", query: `{"filter":{"EQ":{"person.org":"Dev Ops"}}}`,
			want: &cstate.QueryRequest{Filter: eq("Dev Ops", "person", "org")}},
		{name: "eq scalars", query: `{"filter":{"AND":[{"EQ":{"n":1.5}},{"EQ":{"b":true}},{"EQ":{"z":null}}]}}`,
			want: &cstate.QueryRequest{Filter: &cstate.Filter{Op: cstate.FilterAND, Filters: []*cstate.Filter{eq(1.5, "n"), eq(true, "b"), eq(nil, "z")}}}},
		{name: "in, or, sort and page", query: `{"filter":{"OR":[{"IN":{"state":["CA","WA"]}},{"EQ":{"id":3}}]},
			"sort":[{"key":"state","order":"DESC"},{"key":"person.id"}],"page":{"limit":2,"token":"4"}}`,
			want: &cstate.QueryRequest{
				Filter: &cstate.Filter{Op: cstate.FilterOR, Filters: []*cstate.Filter{
					{Op: cstate.FilterIN, Path: []string{"state"}, Values: []any{"CA", "WA"}},
					eq(float64(3), "id"),
				}},
				Sort:  []cstate.SortKey{{Path: []string{"state"}, Descending: true}, {Path: []string{"person", "id"}}},
				Limit: 2, Token: "4",
			}},
		{name: "not JSON", query: `{"filter":`, wantErr: "unexpected end"},
		{name: "two operators", query: `{"filter":{"EQ":{"a":1},"IN":{"b":[1]}}}`, wantErr: "exactly one operator"},
		{name: "eq two pairs", query: `{"filter":{"EQ":{"a":1,"b":2}}}`, wantErr: "one"},
		{name: "eq object", query: `{"filter":{"EQ":{"a":{"b":1}}}}`, wantErr: "not a string"},
		{name: "in empty", query: `{"filter":{"IN":{"a":[]}}}`, wantErr: "non-empty array"},
		{name: "in not array", query: `{"filter":{"IN":{"a":"x"}}}`, wantErr: "non-empty array"},
		{name: "and empty", query: `{"filter":{"AND":[]}}`, wantErr: "non-empty array"},
		{name: "unsupported operator", query: `{"filter":{"GT":{"a":1}}}`, wantErr: "not supported"},
		{name: "unknown operator", query: `{"filter":{"LIKE":{"a":"x"}}}`, wantErr: "unknown"},
		{name: "empty path step", query: `{"filter":{"EQ":{"a..b":1}}}`, wantErr: "non-empty"},
		{name: "quote in path", query: `{"filter":{"EQ":{"a\"b":1}}}`, wantErr: "quotes"},
		{name: "bad order", query: `{"sort":[{"key":"a","order":"UP"}]}`, wantErr: "ASC or DESC"},
		{name: "negative limit", query: `{"page":{"limit":-1}}`, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := state.ParseQuery([]byte(tt.query))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("query (-want +got):\n%s", diff)
			}
		})
	}
}

// TestQuery runs queries through the block over a real querying store
// shared by two apps: each sees only its own keys, without their prefix.
func TestQuery(t *testing.T) {
	store := sqlite.New()
	if err := store.Init(t.Context(), components.Metadata{Name: "db", Type: sqlite.Type, Properties: map[string]string{"connectionString": ":memory:"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	mine, other := state.New("myapp"), state.New("other")
	for _, svc := range []*state.Service{mine, other} {
		if err := svc.Add(components.Metadata{Name: "db", Type: sqlite.Type, Version: "v1"}, store); err != nil {
			t.Fatal(err)
		}
	}
	save := func(svc *state.Service, key, value string) {
		t.Helper()
		if err := svc.Save(t.Context(), "db", []state.SaveItem{{Key: key, Value: []byte(value)}}); err != nil {
			t.Fatal(err)
		}
	}
	save(mine, "1", `{"city":"Seattle","n":2}`)
	save(mine, "2", `{"city":"Portland","n":1}`)
	save(mine, "3", `{"city":"Seattle","n":3}`)
	save(other, "9", `{"city":"Seattle","n":0}`)

	resp, err := mine.Query(t.Context(), "db", []byte(`{"filter":{"EQ":{"city":"Seattle"}},"sort":[{"key":"n","order":"DESC"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	item, err := mine.Get(t.Context(), "db", "3", state.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range resp.Results {
		keys = append(keys, r.Key)
	}
	if diff := cmp.Diff([]string{"3", "1"}, keys); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	if string(resp.Results[0].Data) != `{"city":"Seattle","n":3}` || resp.Results[0].ETag != item.ETag {
		t.Fatalf("first result %s etag %q, want key 3's value and etag %q", resp.Results[0].Data, resp.Results[0].ETag, item.ETag)
	}

	page, err := mine.Query(t.Context(), "db", []byte(`{"sort":[{"key":"n"}],"page":{"limit":2}}`), nil)
	if err != nil || len(page.Results) != 2 || page.Token == "" {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	next, err := mine.Query(t.Context(), "db", []byte(`{"sort":[{"key":"n"}],"page":{"limit":2,"token":"`+page.Token+`"}}`), nil)
	if err != nil || len(next.Results) != 1 || next.Results[0].Key != "3" || next.Token != "" {
		t.Fatalf("second page: %+v, %v", next, err)
	}
}

func TestQueryErrors(t *testing.T) {
	svc, _ := newService(t) // an in-memory store: no queries
	store := sqlite.New()
	if err := store.Init(t.Context(), components.Metadata{Name: "db", Type: sqlite.Type, Properties: map[string]string{"connectionString": ":memory:"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := svc.Add(components.Metadata{Name: "db", Type: sqlite.Type, Version: "v1"}, store); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, store, query string
		code               string
		status             int
		grpc               codes.Code
	}{
		{"unknown store", "nope", `{}`, "ERR_STATE_STORE_NOT_FOUND", http.StatusBadRequest, codes.InvalidArgument},
		{"store without queries", "store", `{}`, "ERR_STATE_STORE_NOT_SUPPORTED", http.StatusInternalServerError, codes.Internal},
		{"query that does not parse", "db", `{"filter":{"GT":{"a":1}}}`, "ERR_STATE_QUERY", http.StatusBadRequest, codes.InvalidArgument},
		{"not JSON", "db", `{"filter":`, "ERR_STATE_QUERY", http.StatusBadRequest, codes.InvalidArgument},
		{"limit of the wrong type", "db", `{"page":{"limit":"ten"}}`, "ERR_STATE_QUERY", http.StatusBadRequest, codes.InvalidArgument},
		{"unknown sort order", "db", `{"sort":[{"key":"a","order":"UP"}]}`, "ERR_STATE_QUERY", http.StatusBadRequest, codes.InvalidArgument},
		{"store rejects the token", "db", `{"page":{"limit":1,"token":"x"}}`, "ERR_STATE_QUERY", http.StatusBadRequest, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Query(t.Context(), tt.store, []byte(tt.query), nil)
			wantErr(t, err, tt.code, tt.status, tt.grpc)
		})
	}
}

// FuzzParseQuery checks that no query document makes the parser panic and
// that what it accepts is a well-formed request.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"filter":{"EQ":{"a.b":"x"}}}`, `{"filter":{"IN":{"a":[1,"2",null,true]}}}`,
		`{"filter":{"AND":[{"OR":[{"EQ":{"a":1}}]},{"EQ":{"b":2}}]}}`, `{"sort":[{"key":"a","order":"desc"}],"page":{"limit":3,"token":"6"}}`,
		`{"filter":{"AND":{}}}`, `{"filter":{"EQ":[]}}`, `{"filter":null}`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := state.ParseQuery(data)
		if err != nil {
			return
		}
		if req.Limit < 0 {
			t.Fatalf("accepted a negative limit: %d", req.Limit)
		}
		var walk func(*cstate.Filter)
		walk = func(f *cstate.Filter) {
			switch f.Op {
			case cstate.FilterEQ, cstate.FilterIN:
				if len(f.Path) == 0 || len(f.Values) == 0 || f.Op == cstate.FilterEQ && len(f.Values) != 1 {
					t.Fatalf("accepted a malformed %s filter: %+v", f.Op, f)
				}
			case cstate.FilterAND, cstate.FilterOR:
				if len(f.Filters) == 0 {
					t.Fatalf("accepted an empty %s", f.Op)
				}
				for _, c := range f.Filters {
					walk(c)
				}
			default:
				t.Fatalf("accepted operator %q", f.Op)
			}
		}
		if req.Filter != nil {
			walk(req.Filter)
		}
	})
}
