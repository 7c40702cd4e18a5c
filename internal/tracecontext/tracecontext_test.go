package tracecontext

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "valid", in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ok: true},
		{name: "future version with more fields", in: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", ok: true},
		{name: "version 00 with trailing data", in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"},
		{name: "version ff", in: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{name: "upper case", in: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"},
		{name: "zero trace id", in: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		{name: "zero span id", in: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"},
		{name: "short", in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"},
		{name: "not hex", in: "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, ok := Parse(tt.in)
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if ok && tp.String() != tt.in[:55] && !strings.HasPrefix(tt.in, "01") {
				t.Errorf("String() = %q, want %q", tp.String(), tt.in)
			}
		})
	}
}

func TestContinue(t *testing.T) {
	in := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tp, fresh := Continue(in, 0)
	if fresh || tp.String() != in {
		t.Errorf("Continue(%q) = %s fresh %v; want it unchanged", in, tp, fresh)
	}
	if c := tp.Child(); c.TraceID != tp.TraceID || c.SpanID == tp.SpanID || c.Flags != tp.Flags {
		t.Errorf("Child() = %s; want the same trace and flags, a new span", c)
	}
	for _, rate := range []float64{0, 1} {
		tp, fresh := Continue("garbage", rate)
		if !fresh || tp.Sampled() != (rate == 1) {
			t.Errorf("rate %v: new trace %s fresh %v", rate, tp, fresh)
		}
		if _, ok := Parse(tp.String()); !ok {
			t.Errorf("new trace %s does not parse", tp)
		}
	}
}
