// Package tracecontext reads and writes W3C Trace Context (the traceparent
// header, version 00) for the sidecars: they continue a caller's trace,
// start one when a request has none, and pass it on to every hop, as
// daprd does. Spans are not exported yet; only the context travels.
//
// It must not import any other cove package.
package tracecontext

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
)

// Header names, as HTTP canonicalises them; gRPC metadata uses lower case.
const (
	HeaderTraceParent = "Traceparent"
	HeaderTraceState  = "Tracestate"
)

// TraceParent is a parsed traceparent value.
type TraceParent struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// Sampled reports the sampled flag.
func (t TraceParent) Sampled() bool { return t.Flags&1 == 1 }

// Parse reads a traceparent header. Versions above 00 are read by their
// 00 prefix, as the specification asks; invalid values report false.
func Parse(s string) (TraceParent, bool) {
	var t TraceParent
	if len(s) < 55 || (len(s) > 55 && (s[:2] == "00" || s[55] != '-')) {
		return t, false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' || s[:2] == "ff" {
		return t, false
	}
	var ver [1]byte
	if _, err := hex.Decode(ver[:], []byte(s[:2])); err != nil || !lowerHex(s[:55]) {
		return t, false
	}
	if _, err := hex.Decode(t.TraceID[:], []byte(s[3:35])); err != nil {
		return t, false
	}
	if _, err := hex.Decode(t.SpanID[:], []byte(s[36:52])); err != nil {
		return t, false
	}
	var flags [1]byte
	if _, err := hex.Decode(flags[:], []byte(s[53:55])); err != nil {
		return t, false
	}
	t.Flags = flags[0]
	if t.TraceID == ([16]byte{}) || t.SpanID == ([8]byte{}) {
		return t, false
	}
	return t, true
}

func lowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; c >= 'A' && c <= 'F' {
			return false
		}
	}
	return true
}

// String renders the value as a version 00 traceparent.
func (t TraceParent) String() string {
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], t.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], t.SpanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{t.Flags})
	return string(b[:])
}

// Child returns the context of a new span in the same trace: a fresh span
// id, the same trace id and flags.
func (t TraceParent) Child() TraceParent {
	c := t
	c.SpanID = newSpanID()
	return c
}

// New starts a trace, sampled by rate (0 to 1) on its trace id, as
// OpenTelemetry's ratio sampler decides, so every hop agrees.
func New(rate float64) TraceParent {
	// Ids need to be unique, not secret: the runtime's per-thread random
	// source, as OpenTelemetry's default generator, not the system's.
	var t TraceParent
	for t.TraceID == ([16]byte{}) {
		binary.BigEndian.PutUint64(t.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(t.TraceID[8:], rand.Uint64())
	}
	t.SpanID = newSpanID()
	if sampled(rate, t.TraceID) {
		t.Flags = 1
	}
	return t
}

func sampled(rate float64, id [16]byte) bool {
	switch {
	case rate >= 1:
		return true
	case rate <= 0:
		return false
	}
	bound := uint64(rate * math.Pow(2, 63))
	return binary.BigEndian.Uint64(id[8:])>>1 < bound
}

func newSpanID() [8]byte {
	var s [8]byte
	for s == ([8]byte{}) {
		binary.BigEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

// Continue returns the traceparent a hop passes on: the incoming one as it
// is, or a new trace (sampled by rate) when it is missing or invalid. The
// sidecar exports no spans, so it adds none to the trace: a span id only it
// knew would leave the app's spans with a parent no collector has. fresh
// says the trace was started here, so a tracestate that came with an
// invalid parent must be dropped.
func Continue(incoming string, rate float64) (tp TraceParent, fresh bool) {
	if t, ok := Parse(incoming); ok {
		return t, false
	}
	return New(rate), true
}
