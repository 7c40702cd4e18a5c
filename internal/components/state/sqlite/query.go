package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/sqlquery"
)

var _ state.Querier = (*Store)(nil)

// dialect reads JSON fields with SQLite's JSON functions.
type dialect struct{}

func (dialect) Placeholder(int) string { return "?" }

// jsonPath quotes every step, so keys with dots or spaces stay one step.
// The state block rejects steps holding a double quote or a backslash.
func jsonPath(path []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, p := range path {
		b.WriteString(`."` + p + `"`)
	}
	return b.String()
}

func (dialect) Equal(path []string, v any, arg func(any) string) string {
	p := arg(jsonPath(path))
	switch v := v.(type) {
	case nil:
		return "json_type(value, " + p + ") = 'null'"
	case bool:
		// json_extract returns 1 and 0 for booleans, which would match
		// numbers; json_type tells them apart.
		return "json_type(value, " + p + ") = '" + strconv.FormatBool(v) + "'"
	default:
		// A string argument never equals a number json_extract returns,
		// and a number compares numerically (1 = 1.0).
		return "json_extract(value, " + p + ") = " + arg(v)
	}
}

func (dialect) Field(path []string, arg func(any) string) string {
	return "json_extract(value, " + arg(jsonPath(path)) + ")"
}

func (dialect) HasPrefix(prefix string, arg func(any) string) string {
	return "substr(key, 1, " + arg(utf8.RuneCountInString(prefix)) + ") = " + arg(prefix)
}

// Query answers Dapr's state query API over the JSON values; binary values
// and expired rows never match.
func (s *Store) Query(ctx context.Context, req *state.QueryRequest) (*state.QueryResponse, error) {
	if s.read == nil {
		return nil, errors.New("sqlite state store is not initialised")
	}
	q, err := sqlquery.Build(dialect{}, req, 2)
	if err != nil {
		return nil, err
	}
	text := `SELECT key, value, etag FROM ` + s.cfg.tableName + `
		WHERE is_binary = 0 AND (expiration_time IS NULL OR expiration_time > ?)`
	if q.Where != "" {
		text += " AND " + q.Where
	}
	text += " ORDER BY " + q.OrderBy + q.LimitOffset()
	args := append([]any{s.now().UTC().Format(timeFormat)}, q.Args...)

	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	rows, err := s.read.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer func() { _ = rows.Close() }()
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
