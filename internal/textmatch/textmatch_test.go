package textmatch

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"state.redis", "state.sqlite", "pubsub.rabbitmq"}
	tests := []struct{ in, want string }{
		{"state.rediss", "state.redis"},
		{"STATE.SQLITE", "state.sqlite"},
		{"pubsub.rabitmq", "pubsub.rabbitmq"},
		{"stat.sqlite", "state.sqlite"},
		{"bindings.cron", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Closest(tc.in, known); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Closest("x", nil); got != "" {
		t.Errorf("Closest without candidates = %q", got)
	}
}
