package sqlquery

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cove-env/cove/internal/components/state"
)

// Dialect is how one database reads JSON fields of the value column.
// Methods bind their arguments through arg, which returns the argument's
// placeholder.
type Dialect interface {
	// Placeholder is the n-th (1-based) bind parameter: "?" or "$n".
	Placeholder(n int) string
	// Equal is a condition that the JSON value at path equals v, a JSON
	// scalar (string, float64, bool or nil), with JSON's types: the string
	// "1" does not equal the number 1.
	Equal(path []string, v any, arg func(any) string) string
	// Field is an expression of the JSON value at path to sort by.
	Field(path []string, arg func(any) string) string
	// HasPrefix is a condition that the key column starts with prefix.
	HasPrefix(prefix string, arg func(any) string) string
}

// Query is a translated state query.
type Query struct {
	// Where is the condition, "" when nothing restricts the rows.
	Where string
	// OrderBy lists the sort expressions, ending with the key so that
	// pages never overlap; it never is empty.
	OrderBy string
	// Limit is 0 for no limit; Offset comes from the page token.
	Limit, Offset int
	// Args are the bind arguments, in placeholder order.
	Args []any
}

// Build translates req. Args are numbered from first, so a store can bind
// its own arguments (the current time, say) before the query's. Its errors
// are the request's and wrap state.ErrQueryInvalid.
func Build(d Dialect, req *state.QueryRequest, first int) (Query, error) {
	q, err := build(d, req, first)
	if err != nil {
		return Query{}, fmt.Errorf("%w: %w", state.ErrQueryInvalid, err)
	}
	return q, nil
}

func build(d Dialect, req *state.QueryRequest, first int) (Query, error) {
	q := Query{Limit: req.Limit}
	if req.Limit < 0 {
		return Query{}, fmt.Errorf("page limit %d: must not be negative", req.Limit)
	}
	if req.Token != "" {
		off, err := strconv.Atoi(req.Token)
		if err != nil || off < 0 {
			return Query{}, fmt.Errorf("invalid page token %q", req.Token)
		}
		q.Offset = off
	}
	arg := func(v any) string {
		q.Args = append(q.Args, v)
		return d.Placeholder(first + len(q.Args) - 1)
	}
	var conds []string
	if req.KeyPrefix != "" {
		conds = append(conds, d.HasPrefix(req.KeyPrefix, arg))
	}
	if req.Filter != nil {
		c, err := where(d, req.Filter, arg)
		if err != nil {
			return Query{}, err
		}
		conds = append(conds, c)
	}
	q.Where = strings.Join(conds, " AND ")

	order := make([]string, 0, len(req.Sort)+1)
	for _, s := range req.Sort {
		if len(s.Path) == 0 {
			return Query{}, fmt.Errorf("sort key is empty")
		}
		// Rows without the field sort after the others going up and before
		// them going down, as PostgreSQL orders NULLs by default.
		dir := " ASC NULLS LAST"
		if s.Descending {
			dir = " DESC NULLS FIRST"
		}
		order = append(order, d.Field(s.Path, arg)+dir)
	}
	q.OrderBy = strings.Join(append(order, "key ASC"), ", ")
	return q, nil
}

func where(d Dialect, f *state.Filter, arg func(any) string) (string, error) {
	switch f.Op {
	case state.FilterEQ, state.FilterIN:
		if len(f.Path) == 0 {
			return "", fmt.Errorf("%s filter without a key", f.Op)
		}
		if len(f.Values) == 0 || f.Op == state.FilterEQ && len(f.Values) != 1 {
			return "", fmt.Errorf("%s filter on %s has %d values", f.Op, strings.Join(f.Path, "."), len(f.Values))
		}
		parts := make([]string, len(f.Values))
		for i, v := range f.Values {
			switch v.(type) {
			case nil, string, float64, bool:
			default:
				return "", fmt.Errorf("%s filter on %s: value %v is not a JSON scalar", f.Op, strings.Join(f.Path, "."), v)
			}
			parts[i] = d.Equal(f.Path, v, arg)
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		return "(" + strings.Join(parts, " OR ") + ")", nil
	case state.FilterAND, state.FilterOR:
		if len(f.Filters) == 0 {
			return "", fmt.Errorf("%s filter without operands", f.Op)
		}
		parts := make([]string, len(f.Filters))
		for i, c := range f.Filters {
			if c == nil {
				return "", fmt.Errorf("%s filter with an empty operand", f.Op)
			}
			s, err := where(d, c, arg)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "(" + strings.Join(parts, " "+string(f.Op)+" ") + ")", nil
	}
	return "", fmt.Errorf("unsupported filter operator %q", f.Op)
}

// NextToken is the token of the page after one that returned n results:
// empty when the query has no limit or this page was not full.
func (q Query) NextToken(n int) string {
	if q.Limit == 0 || n < q.Limit {
		return ""
	}
	return strconv.Itoa(q.Offset + n)
}

// LimitOffset is the paging clause, "" when the query has neither.
func (q Query) LimitOffset() string {
	var b strings.Builder
	if q.Limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.Limit)
	}
	if q.Offset > 0 {
		if q.Limit == 0 {
			// SQLite needs a LIMIT before OFFSET; the largest bigint is
			// "none" in both SQLite and PostgreSQL.
			b.WriteString(" LIMIT 9223372036854775807")
		}
		fmt.Fprintf(&b, " OFFSET %d", q.Offset)
	}
	return b.String()
}

// ValidIdentifier reports whether s is safe to put into SQL unquoted as a
// table or schema name: letters, digits and _ only, as Dapr's SQL stores
// require.
func ValidIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
