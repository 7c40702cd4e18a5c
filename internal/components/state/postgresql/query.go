package postgresql

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlquery"
)

// dialect reads JSON fields of v1's jsonb value column.
type dialect struct{}

func (dialect) Placeholder(n int) string { return "$" + strconv.Itoa(n) }

// Equal compares jsonb values, which keeps JSON's types apart ("1" is not
// 1) and compares numbers by value (1 = 1.0).
func (dialect) Equal(path []string, v any, arg func(any) string) string {
	doc, _ := json.Marshal(v) // a scalar: cannot fail
	return "value #> " + arg(path) + "::text[] = " + arg(string(doc)) + "::jsonb"
}

// Field sorts by jsonb's order: numbers by value, strings by collation.
func (dialect) Field(path []string, arg func(any) string) string {
	return "value #> " + arg(path) + "::text[]"
}

func (dialect) HasPrefix(prefix string, arg func(any) string) string {
	return "starts_with(key, " + arg(prefix) + "::text)"
}

// Query answers Dapr's state query API (v1 only: v2 keeps values as bytes);
// binary values and expired rows never match.
func (s *Store) Query(ctx context.Context, req *state.QueryRequest) (*state.QueryResponse, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if s.layout != &v1 {
		return nil, fmt.Errorf("%w: queries need state.postgresql v1", state.ErrNotSupported)
	}
	q, err := sqlquery.Build(dialect{}, req, 1)
	if err != nil {
		return nil, err
	}
	text := `SELECT key, value, xmin::text FROM ` + s.cfg.tableName + `
		WHERE NOT isbinary AND (expiredate IS NULL OR expiredate >= CURRENT_TIMESTAMP)`
	if q.Where != "" {
		text += " AND " + q.Where
	}
	text += " ORDER BY " + q.OrderBy + q.LimitOffset()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, text, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	resp := &state.QueryResponse{Results: []state.QueryResult{}}
	for rows.Next() {
		var (
			r    state.QueryResult
			etag string
		)
		if err := rows.Scan(&r.Key, &r.Data, &etag); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		r.ETag = &etag
		resp.Results = append(resp.Results, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	resp.Token = q.NextToken(len(resp.Results))
	return resp, nil
}
