package jobs

import (
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestNewPlanRefuses(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		spec spec
		want string
	}{
		{"nothing", spec{}, "either a due time or a schedule"},
		{"repeats without schedule", spec{DueTime: ptr("1s"), Repeats: ptr(uint32(2))}, "schedule to repeat"},
		{"zero repeats", spec{Schedule: ptr("@daily"), Repeats: ptr(uint32(0))}, "greater than 0"},
		{"ttl without schedule", spec{DueTime: ptr("1s"), TTL: ptr("1h")}, "schedule to have a ttl"},
		{"five cron fields", spec{Schedule: ptr("* * * * *")}, "schedule"},
		{"bad descriptor", spec{Schedule: ptr("@sometimes")}, "schedule"},
		{"bad due time", spec{DueTime: ptr("soon")}, "dueTime \"soon\""},
		{"due time with repetitions", spec{DueTime: ptr("R2/PT1S")}, "repetitions"},
		{"bad ttl", spec{Schedule: ptr("@daily"), TTL: ptr("never")}, "ttl \"never\""},
		{"ttl before due", spec{Schedule: ptr("@daily"), DueTime: ptr("2030-01-03T00:00:00Z"), TTL: ptr("2030-01-02T00:00:00Z")},
			"ttl must be greater than due time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newPlan(c.spec, now)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// firings lists the times a plan fires, at most n of them, each delivered
// on time.
func firings(p *plan, n int) []time.Time {
	var out []time.Time
	var last time.Time
	for i := 0; i < n; i++ {
		t, ok := p.next(uint32(i), last)
		if !ok {
			break
		}
		out = append(out, t)
		last = t
	}
	return out
}

func TestPlanFirings(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name string
		spec spec
		want []time.Time
	}{
		{"due time as a Go duration", spec{DueTime: ptr("10s")}, []time.Time{now.Add(10 * time.Second)}},
		{"due time as ISO 8601", spec{DueTime: ptr("PT1M")}, []time.Time{now.Add(time.Minute)}},
		{"due time as RFC 3339", spec{DueTime: ptr("2030-05-06T07:08:09Z")}, []time.Time{at("2030-05-06T07:08:09Z")}},
		{"every, repeats", spec{Schedule: ptr("@every 10s"), Repeats: ptr(uint32(3))},
			[]time.Time{now.Add(10 * time.Second), now.Add(20 * time.Second), now.Add(30 * time.Second)}},
		{"every, from a due time", spec{Schedule: ptr("@every 1m"), DueTime: ptr("5s"), Repeats: ptr(uint32(2))},
			[]time.Time{now.Add(5 * time.Second), now.Add(65 * time.Second)}},
		{"daily", spec{Schedule: ptr("@daily"), Repeats: ptr(uint32(2))},
			[]time.Time{at("2030-01-03T00:00:00Z"), at("2030-01-04T00:00:00Z")}},
		{"cron with seconds", spec{Schedule: ptr("30 0 * * * *"), Repeats: ptr(uint32(2))},
			[]time.Time{at("2030-01-02T04:00:30Z"), at("2030-01-02T05:00:30Z")}},
		{"ttl ends it", spec{Schedule: ptr("@every 1h"), TTL: ptr("150m")},
			[]time.Time{now.Add(time.Hour), now.Add(2 * time.Hour)}},
		{"ttl from the due time", spec{Schedule: ptr("@every 1h"), DueTime: ptr("1h"), TTL: ptr("90m")},
			[]time.Time{now.Add(time.Hour), now.Add(2 * time.Hour)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := newPlan(c.spec, now)
			if err != nil {
				t.Fatal(err)
			}
			got := firings(p, 10)
			if len(got) != len(c.want) {
				t.Fatalf("fires at %v, want %v", got, c.want)
			}
			for i := range got {
				if !got[i].Equal(c.want[i]) {
					t.Fatalf("fires at %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestPlanAfterMissedOccurrences(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := newPlan(spec{Schedule: ptr("@every 1m")}, now)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := p.next(0, time.Time{})
	// Delivered an hour late: the next is a minute after now, not the 59
	// missed in between.
	late := first.Add(time.Hour)
	next, ok := p.after(1, first, late)
	if !ok || !next.Equal(late.Add(time.Minute)) {
		t.Fatalf("next = %v %v, want %v", next, ok, late.Add(time.Minute))
	}
}

func TestRetryAfter(t *testing.T) {
	fp := defaultFailurePolicy()
	for attempts, want := range []bool{true, true, true, true, false} {
		if attempts == 0 {
			continue
		}
		if _, ok := retryAfter(fp, uint32(attempts)); ok != want {
			t.Errorf("after %d failed attempts: retry %v, want %v", attempts, ok, want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"job", "my||job@name", "with space", "UPPER_case-1.2"} {
		if err := checkName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"bad/name", `bad\name`, "bad#name", "bad?name", "bad\x00name", "bad\nname", strings.Repeat("a", 600)} {
		if err := checkName(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
