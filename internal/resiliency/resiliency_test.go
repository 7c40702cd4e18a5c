package resiliency

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCodes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		grpc    bool
		want    []CodeRange
		wantErr bool
	}{
		{name: "empty matches all", in: "", want: nil},
		{name: "list and range", in: "429,500-599", want: []CodeRange{{429, 429}, {500, 599}}},
		{name: "spaces and empty parts", in: " 502 , ,503-504", want: []CodeRange{{502, 502}, {503, 504}}},
		{name: "grpc", in: "1-4,8-11,13,14", grpc: true, want: []CodeRange{{1, 4}, {8, 11}, {13, 13}, {14, 14}}},
		{name: "http out of range", in: "600", wantErr: true},
		{name: "grpc out of range", in: "17", grpc: true, wantErr: true},
		{name: "reversed", in: "599-500", wantErr: true},
		{name: "two dashes", in: "500-550-599", wantErr: true},
		{name: "not a number", in: "5xx", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseHTTPCodes
			if tt.grpc {
				parse = ParseGRPCCodes
			}
			got, err := parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ranges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	half := func() float64 { return 0.5 } // the middle of the jitter window
	tests := []struct {
		name  string
		retry Retry
		want  []time.Duration
	}{
		{
			name:  "constant",
			retry: Retry{Kind: RetryConstant, Interval: 2 * time.Second, MaxRetries: 3},
			want:  []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
		},
		{
			name:  "no retries",
			retry: Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 0},
			want:  nil,
		},
		{
			name: "exponential capped at max interval",
			retry: Retry{Kind: RetryExponential, InitialInterval: 100 * time.Millisecond, Multiplier: 2,
				MaxInterval: 500 * time.Millisecond, MaxRetries: 5},
			want: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
				500 * time.Millisecond, 500 * time.Millisecond},
		},
		{
			name: "exponential bounded by max elapsed time",
			retry: Retry{Kind: RetryExponential, InitialInterval: time.Second, Multiplier: 2,
				MaxInterval: time.Minute, MaxElapsedTime: 8 * time.Second, MaxRetries: -1},
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.retry.Schedule(half)
			var got []time.Duration
			for range 10 {
				d, ok := s.Next()
				if !ok {
					break
				}
				got = append(got, d)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScheduleJitterStaysInWindow(t *testing.T) {
	r := Retry{Kind: RetryExponential, InitialInterval: time.Second, RandomizationFactor: 0.5,
		Multiplier: 1, MaxInterval: time.Second, MaxRetries: -1}
	for _, x := range []float64{0, 0.999999} {
		d, _ := r.Schedule(func() float64 { return x }).Next()
		if d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("rand %v: wait %v outside [0.5s, 1.5s]", x, d)
		}
	}
}

func TestTrip(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		counts  Counts
		want    bool
		wantErr bool
	}{
		{name: "default below", expr: DefaultTrip, counts: Counts{ConsecutiveFailures: 5}, want: false},
		{name: "default above", expr: DefaultTrip, counts: Counts{ConsecutiveFailures: 6}, want: true},
		{name: "conjunction", expr: "requests > 10 && totalFailures * 2 > requests", counts: Counts{Requests: 11, TotalFailures: 6}, want: true},
		{name: "division by zero does not trip", expr: "totalFailures / requests > 0", counts: Counts{}, want: false},
		{name: "unknown variable", expr: "failures > 5", wantErr: true},
		{name: "not a bool", expr: "consecutiveFailures + 1", wantErr: true},
		{name: "syntax", expr: "consecutiveFailures >", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := CompileTrip(tt.expr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := tr.Eval(tt.counts); got != tt.want {
				t.Errorf("Eval(%+v) = %v, want %v", tt.counts, got, tt.want)
			}
		})
	}
}

func mustTrip(t *testing.T, expr string) *Trip {
	t.Helper()
	tr, err := CompileTrip(expr)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestBreakerStateMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var changes []string
		b := NewBreaker(BreakerPolicy{MaxRequests: 2, Timeout: 10 * time.Second, Trip: mustTrip(t, "consecutiveFailures >= 3")},
			func(from, to State) { changes = append(changes, from.String()+">"+to.String()) })
		outcome := func(success bool) error {
			done, err := b.Allow()
			if err != nil {
				return err
			}
			done(success)
			return nil
		}
		for range 2 {
			if err := outcome(false); err != nil {
				t.Fatal(err)
			}
		}
		if err := outcome(true); err != nil { // a success resets the streak
			t.Fatal(err)
		}
		for range 3 {
			_ = outcome(false)
		}
		if b.State() != Open {
			t.Fatalf("state = %v after 3 consecutive failures, want open", b.State())
		}
		if err := outcome(true); !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("open breaker let a request through: %v", err)
		}
		time.Sleep(10 * time.Second)
		if b.State() != HalfOpen {
			t.Fatalf("state = %v after the timeout, want half-open", b.State())
		}
		// Half-open: MaxRequests in flight, the next one refused.
		d1, err1 := b.Allow()
		d2, err2 := b.Allow()
		if err1 != nil || err2 != nil {
			t.Fatalf("half-open refused its probes: %v, %v", err1, err2)
		}
		if _, err := b.Allow(); !errors.Is(err, ErrTooManyRequests) {
			t.Fatalf("third half-open request: %v, want ErrTooManyRequests", err)
		}
		d1(true)
		if b.State() != HalfOpen {
			t.Fatal("closed after one success; MaxRequests is 2")
		}
		d2(true)
		if b.State() != Closed {
			t.Fatalf("state = %v after 2 successes, want closed", b.State())
		}
		// Open again, and a failed probe reopens it.
		for range 3 {
			_ = outcome(false)
		}
		time.Sleep(10 * time.Second)
		_ = outcome(false)
		if b.State() != Open {
			t.Fatalf("failed probe left the breaker %v, want open", b.State())
		}
		want := []string{"closed>open", "open>half-open", "half-open>closed", "closed>open", "open>half-open", "half-open>open"}
		if diff := cmp.Diff(want, changes); diff != "" {
			t.Errorf("state changes (-want +got):\n%s", diff)
		}
	})
}

func TestBreakerIntervalClearsCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker(BreakerPolicy{Interval: time.Minute, Trip: mustTrip(t, "totalFailures >= 2")}, nil)
		done, _ := b.Allow()
		done(false)
		time.Sleep(time.Minute)
		done, _ = b.Allow()
		done(false)
		if b.State() != Closed {
			t.Fatal("failures from an earlier interval counted")
		}
		done, _ = b.Allow()
		done(false)
		if b.State() != Open {
			t.Fatal("two failures within an interval did not trip")
		}
	})
}

func TestRun(t *testing.T) {
	fail503 := &StatusError{Code: 503}
	tests := []struct {
		name      string
		policy    *Policy
		noRetry   bool
		results   []error // per attempt; the last repeats
		wantCalls int
		wantErr   error
	}{
		{name: "nil policy runs once", results: []error{fail503}, wantCalls: 1, wantErr: fail503},
		{name: "retried until success", policy: &Policy{Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 5}},
			results: []error{fail503, fail503, nil}, wantCalls: 3},
		{name: "retries exhausted", policy: &Policy{Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 2}},
			results: []error{fail503}, wantCalls: 3, wantErr: fail503},
		{name: "status not matched", policy: &Policy{Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 2,
			HTTPStatusCodes: []CodeRange{{500, 502}}}}, results: []error{fail503}, wantCalls: 1, wantErr: fail503},
		{name: "grpc code matched", policy: &Policy{Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 2,
			HTTPStatusCodes: []CodeRange{{500, 502}}, GRPCStatusCodes: []CodeRange{{14, 14}}}},
			results: []error{&StatusError{Code: 14, GRPC: true}, nil}, wantCalls: 2},
		{name: "not replayable", noRetry: true, policy: &Policy{Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 2}},
			results: []error{fail503}, wantCalls: 1, wantErr: fail503},
		{name: "permanent", policy: &Policy{Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 2}},
			results: []error{Permanent(errBoom)}, wantCalls: 1, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls, disposed := 0, 0
				_, err := Run(t.Context(), tt.policy, func(context.Context) (int, error) {
					err := tt.results[min(calls, len(tt.results)-1)]
					calls++
					return calls, err
				}, RunOptions[int]{NoRetry: tt.noRetry, Dispose: func(int) { disposed++ }})
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if calls != tt.wantCalls {
					t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
				}
				if disposed != calls-1 {
					t.Errorf("disposed %d results of %d attempts; every retried one must be", disposed, calls)
				}
			})
		})
	}
}

var errBoom = errors.New("boom")

func TestRunTimeoutPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &Policy{Timeout: time.Second, Retry: &Retry{Kind: RetryConstant, Interval: time.Second, MaxRetries: 1}}
		calls := 0
		start := time.Now()
		_, err := Run(t.Context(), p, func(ctx context.Context) (int, error) {
			calls++
			<-ctx.Done()
			return 0, ctx.Err()
		}, RunOptions[int]{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		// Two attempts of 1s each and one wait of 1s between them.
		if calls != 2 || time.Since(start) != 3*time.Second {
			t.Errorf("calls = %d after %v, want 2 after 3s", calls, time.Since(start))
		}
	})
}

func TestRunBreakerFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &Policy{Breaker: NewBreaker(BreakerPolicy{Timeout: 5 * time.Second, Trip: mustTrip(t, "consecutiveFailures >= 2")}, nil)}
		calls := 0
		op := func(context.Context) (int, error) { calls++; return 0, errBoom }
		for range 2 {
			_, _ = Run(t.Context(), p, op, RunOptions[int]{})
		}
		if _, err := Run(t.Context(), p, op, RunOptions[int]{}); !errors.Is(err, ErrBreakerOpen) || calls != 2 {
			t.Fatalf("err = %v after %d calls, want ErrBreakerOpen after 2", err, calls)
		}
		time.Sleep(5 * time.Second)
		ok := func(context.Context) (int, error) { calls++; return 1, nil }
		if _, err := Run(t.Context(), p, ok, RunOptions[int]{}); err != nil || p.Breaker.State() != Closed {
			t.Fatalf("probe after the timeout: err %v, state %v", err, p.Breaker.State())
		}
	})
}
