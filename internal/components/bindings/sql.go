package bindings

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// SQL is what Dapr's SQL bindings (postgresql, mysql) share of a call: the
// statement in the sql metadata item, its arguments as a JSON array in
// params, and the response metadata (operation, sql, start-time, end-time,
// duration, and rows-affected for exec).
type SQL struct {
	// Exec runs a statement and reports the rows it affected.
	Exec func(sql string, args []any) (int64, error)
	// Query runs a statement and answers its rows as JSON.
	Query func(sql string, args []any) ([]byte, error)
}

// Invoke runs req's exec or query.
func (s SQL) Invoke(req *Request) (*Response, error) {
	stmt := req.Metadata["sql"]
	if stmt == "" {
		return nil, fmt.Errorf("%w: required metadata not set: sql", ErrInvalid)
	}
	var args []any
	if p := req.Metadata["params"]; p != "" {
		if err := json.Unmarshal([]byte(p), &args); err != nil {
			return nil, fmt.Errorf("%w: invalid metadata property params: failed to unserialize into an array: %v", ErrInvalid, err)
		}
	}
	start := time.Now().UTC()
	resp := &Response{Metadata: map[string]string{
		"operation": req.Operation, "sql": stmt, "start-time": start.Format(time.RFC3339Nano),
	}}
	switch req.Operation {
	case OperationExec:
		n, err := s.Exec(stmt, args)
		if err != nil {
			return nil, fmt.Errorf("error executing query: %w", err)
		}
		resp.Metadata["rows-affected"] = strconv.FormatInt(n, 10)
	case OperationQuery:
		data, err := s.Query(stmt, args)
		if err != nil {
			return nil, fmt.Errorf("error executing query: %w", err)
		}
		resp.Data = data
	default:
		return nil, fmt.Errorf("%w: invalid operation type: %s. Expected exec, query, or close", ErrInvalid, req.Operation)
	}
	end := time.Now().UTC()
	resp.Metadata["end-time"] = end.Format(time.RFC3339Nano)
	resp.Metadata["duration"] = end.Sub(start).String()
	return resp, nil
}
