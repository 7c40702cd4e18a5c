package sidecar

import (
	"context"
	"encoding/json"
	"net/http"

	"golang.org/x/net/http/httpguts"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/tracecontext"
)

// BindingsAPI is what the sidecar needs of the output bindings building
// block; the signatures are those of bindings.Service.
type BindingsAPI interface {
	Bindings() []bindings.Info
	Invoke(ctx context.Context, name string, req *bindings.Request) (*bindings.Response, error)
}

// invokeBinding answers POST|PUT /v1.0/bindings/{name} with a body of
// {"data", "metadata", "operation"}, as daprd: data goes to the binding as
// its JSON encoding (a JSON string arrives quoted); the answer is the
// binding's data (204 when it answered nothing), its metadata as
// metadata.<key> headers, even with an error.
func (s *Sidecar) invokeBinding(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Data      any               `json:"data"`
		Metadata  map[string]string `json:"metadata"`
		Operation string            `json:"operation"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return daprerr.New(daprerr.Malformed, "failed deserializing HTTP body: %v", err)
	}
	name := r.PathValue("name")
	if s.cfg.Bindings == nil {
		return daprerr.NoOutputBinding(name, in.Operation)
	}
	data, err := json.Marshal(in.Data)
	if err != nil {
		return daprerr.New(daprerr.MalformedData, "can't serialize request data field: %v", err)
	}
	// The call's trace context goes on to the binding, as daprd passes
	// it (an HTTP binding sends it as headers).
	if in.Metadata == nil {
		in.Metadata = map[string]string{}
	}
	for k, h := range map[string]string{"traceparent": tracecontext.HeaderTraceParent, "tracestate": tracecontext.HeaderTraceState} {
		if v := r.Header.Get(h); v != "" {
			in.Metadata[k] = v
		}
	}
	resp, err := s.cfg.Bindings.Invoke(r.Context(), name, &bindings.Request{Operation: in.Operation, Data: data, Metadata: in.Metadata})
	if resp != nil {
		h := w.Header()
		for k, v := range resp.Metadata {
			if k := "metadata." + k; httpguts.ValidHeaderFieldName(k) && httpguts.ValidHeaderFieldValue(v) {
				h.Add(k, v)
			}
		}
	}
	if err != nil {
		return err
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Data)
	return nil
}
