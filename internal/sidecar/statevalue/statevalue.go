// Package statevalue is the one place the sidecar's API front ends turn a
// JSON state value into the bytes daprd would store for it, so a value
// saved over HTTP and one saved over gRPC with contentType
// application/json are stored alike.
//
// It imports nothing of cove's.
package statevalue

import "encoding/json"

// FromJSON returns the bytes daprd stores for a JSON value: it decodes the
// JSON into a generic value and encodes that again, so object keys come
// out sorted and numbers as float64s print, exactly as daprd writes them.
// An empty value is stored as null.
func FromJSON(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return []byte("null"), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
