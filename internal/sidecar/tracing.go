package sidecar

import (
	"net/http"

	"github.com/cove-env/cove/internal/tracecontext"
)

// traceHTTP gives the request a trace context before anything else sees
// it: the caller's as it came, or a new trace. The app and every later hop
// receive it in traceparent, and so does the caller, in the response, as
// daprd answers.
func (s *Sidecar) traceHTTP(w http.ResponseWriter, r *http.Request) {
	tp, fresh := tracecontext.Continue(r.Header.Get(tracecontext.HeaderTraceParent), s.traceSampling())
	if fresh {
		delete(r.Header, tracecontext.HeaderTraceState)
	}
	v := tp.String()
	r.Header[tracecontext.HeaderTraceParent] = []string{v}
	w.Header()[tracecontext.HeaderTraceParent] = []string{v}
}

// traceSampling is the rate of sampled new traces (Dapr's
// spec.tracing.samplingRate), 1 unless configured.
func (s *Sidecar) traceSampling() float64 {
	if s.cfg.TraceSampling == nil {
		return 1
	}
	return *s.cfg.TraceSampling
}
