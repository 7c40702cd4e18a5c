package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/daprerr"
)

// QueryResponse is one page of a state query. Keys are the caller's, the
// store's key prefix removed.
type QueryResponse struct {
	Results  []QueryItem
	Token    string
	Metadata map[string]string
}

// QueryItem is one matching key; Data is its stored JSON value.
type QueryItem struct {
	Key   string
	Data  []byte
	ETag  string
	Error string
}

// Query runs a query in Dapr's JSON query language (filter with EQ, IN,
// AND and OR; sort; page limit and token) on a store that implements
// queries. Only the app's own keys (those with its prefix) can match. As
// in daprd, a query that does not parse answers ERR_STATE_QUERY, with 400
// (gRPC InvalidArgument) where daprd answers 500: the caller's mistake.
func (s *Service) Query(ctx context.Context, store string, query []byte, metadata map[string]string) (*QueryResponse, error) {
	e, err := s.lookup(store)
	if err != nil {
		return nil, err
	}
	if e.query == nil {
		return nil, daprerr.New(daprerr.StateStoreNotSupported, "state store does not support querying")
	}
	req, err := ParseQuery(query)
	if err != nil {
		return nil, invalid(daprerr.StateQuery, err, "failed query in state store %s: failed to parse JSON query body", store)
	}
	req.KeyPrefix, req.Metadata = e.prefix, metadata
	resp, err := run(ctx, e, func(ctx context.Context) (*cstate.QueryResponse, error) { return e.query.Query(ctx, req) })
	if err != nil {
		s.log.Debug("state query failed", "store", store, "err", err)
		if errors.Is(err, cstate.ErrQueryInvalid) {
			return nil, invalid(daprerr.StateQuery, err, "failed query in state store %s", store)
		}
		return nil, daprerr.Wrap(daprerr.StateQuery, err, "failed query in state store %s", store)
	}
	out := &QueryResponse{Token: resp.Token, Results: make([]QueryItem, 0, len(resp.Results))}
	for _, r := range resp.Results {
		key, ok := strings.CutPrefix(r.Key, e.prefix)
		if !ok {
			continue // never the app's; stores filter by prefix already
		}
		it := QueryItem{Key: key, Data: r.Data}
		if r.ETag != nil {
			it.ETag = *r.ETag
		}
		out.Results = append(out.Results, it)
	}
	return out, nil
}

// queryBody is Dapr's query document.
type queryBody struct {
	Filter map[string]json.RawMessage `json:"filter"`
	Sort   []struct {
		Key   string `json:"key"`
		Order string `json:"order"`
	} `json:"sort"`
	Page struct {
		Limit int    `json:"limit"`
		Token string `json:"token"`
	} `json:"page"`
}

// ParseQuery parses and validates a query document: the one parser behind
// both API front ends. The result has no key prefix or metadata yet.
func ParseQuery(data []byte) (*cstate.QueryRequest, error) {
	var body queryBody
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, err
	}
	req := &cstate.QueryRequest{Limit: body.Page.Limit, Token: body.Page.Token}
	if req.Limit < 0 {
		return nil, fmt.Errorf("page limit %d: must not be negative", req.Limit)
	}
	if body.Filter != nil {
		f, err := parseFilter(body.Filter)
		if err != nil {
			return nil, err
		}
		req.Filter = f
	}
	for i, s := range body.Sort {
		path, err := parsePath(s.Key)
		if err != nil {
			return nil, fmt.Errorf("sort %d: %w", i, err)
		}
		sk := cstate.SortKey{Path: path}
		switch strings.ToUpper(s.Order) {
		case "", "ASC":
		case "DESC":
			sk.Descending = true
		default:
			return nil, fmt.Errorf("sort %d: order %q: use ASC or DESC", i, s.Order)
		}
		req.Sort = append(req.Sort, sk)
	}
	return req, nil
}

// parseFilter reads one filter object: {"OP": operand}.
func parseFilter(obj map[string]json.RawMessage) (*cstate.Filter, error) {
	if len(obj) != 1 {
		return nil, fmt.Errorf("a filter has exactly one operator, this one has %d", len(obj))
	}
	for op, raw := range obj {
		switch cstate.FilterOp(op) {
		case cstate.FilterEQ, cstate.FilterIN:
			var operand map[string]json.RawMessage
			if err := json.Unmarshal(raw, &operand); err != nil || len(operand) != 1 {
				return nil, fmt.Errorf(`%s takes one {"key": value} pair`, op)
			}
			for key, v := range operand {
				path, err := parsePath(key)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", op, err)
				}
				f := &cstate.Filter{Op: cstate.FilterOp(op), Path: path}
				if op == string(cstate.FilterEQ) {
					val, err := scalar(v)
					if err != nil {
						return nil, fmt.Errorf("EQ %s: %w", key, err)
					}
					f.Values = []any{val}
					return f, nil
				}
				var list []json.RawMessage
				if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
					return nil, fmt.Errorf("IN %s: needs a non-empty array of values", key)
				}
				for _, item := range list {
					val, err := scalar(item)
					if err != nil {
						return nil, fmt.Errorf("IN %s: %w", key, err)
					}
					f.Values = append(f.Values, val)
				}
				return f, nil
			}
		case cstate.FilterAND, cstate.FilterOR:
			var list []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
				return nil, fmt.Errorf("%s needs a non-empty array of filters", op)
			}
			f := &cstate.Filter{Op: cstate.FilterOp(op)}
			for _, item := range list {
				child, err := parseFilter(item)
				if err != nil {
					return nil, err
				}
				f.Filters = append(f.Filters, child)
			}
			return f, nil
		case "NEQ", "GT", "GTE", "LT", "LTE":
			return nil, fmt.Errorf("filter operator %s is not supported; use EQ, IN, AND or OR", op)
		default:
			return nil, fmt.Errorf("unknown filter operator %q", op)
		}
	}
	return nil, errors.New("empty filter") // unreachable: len(obj) == 1
}

// parsePath splits a dotted key ("person.org") into the steps of a path
// into the stored JSON value.
func parsePath(key string) ([]string, error) {
	if key == "" {
		return nil, errors.New("empty key")
	}
	path := strings.Split(key, ".")
	for _, p := range path {
		if p == "" || strings.ContainsAny(p, `"\`) {
			return nil, fmt.Errorf("key %q: steps must be non-empty and free of quotes and backslashes", key)
		}
	}
	return path, nil
}

// scalar decodes a JSON string, number, boolean or null; objects and
// arrays cannot be compared.
func scalar(raw json.RawMessage) (any, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch v.(type) {
	case nil, string, float64, bool:
		return v, nil
	}
	return nil, fmt.Errorf("value %s is not a string, number, boolean or null", raw)
}
