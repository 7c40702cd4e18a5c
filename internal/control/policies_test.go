package control

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/spec"
)

func TestPoliciesFromResources(t *testing.T) {
	three := 3
	res := &spec.Resiliency{Name: "r", Scopes: []string{"frontend", "worker"}, Spec: spec.ResiliencySpec{
		Policies: spec.ResiliencyPolicies{
			Timeouts: map[string]string{"fast": "1s", spec.DefaultAppTimeoutPolicy: "9s", spec.DefaultTimeoutPolicy: "20s"},
			Retries: map[string]*spec.RetryPolicySpec{
				"few": {Policy: "constant", Duration: "50ms", MaxRetries: &three,
					Matching: &spec.RetryMatching{HTTPStatusCodes: "500-599"}},
				spec.DefaultRetryPolicy: {Policy: "exponential"},
			},
			CircuitBreakers: map[string]*spec.CircuitBreakerSpec{"cb": {Timeout: "5s", Trip: "consecutiveFailures > 2"}},
		},
		Targets: spec.ResiliencyTargets{Apps: map[string]*spec.TargetPolicyNames{
			"orders": {Timeout: "fast", Retry: "few", CircuitBreaker: "cb"},
		}},
	}}
	env := &spec.Environment{Resiliency: []*spec.Resiliency{res}}
	p := newPolicies(env, nil, slog.New(slog.DiscardHandler))

	orders := p.Resiliency("frontend", "orders")
	if orders == nil || orders.Timeout != time.Second || orders.Breaker == nil {
		t.Fatalf("frontend→orders = %+v, want the named timeout and breaker", orders)
	}
	want := &resiliency.Retry{Name: "few", Kind: "constant", Interval: 50 * time.Millisecond, MaxRetries: 3,
		InitialInterval: resiliency.DefaultInitialInterval, MaxInterval: resiliency.DefaultMaxInterval,
		MaxElapsedTime: resiliency.DefaultMaxElapsedTime, RandomizationFactor: resiliency.DefaultRandomizationFactor,
		Multiplier: resiliency.DefaultMultiplier, HTTPStatusCodes: []resiliency.CodeRange{{From: 500, To: 599}}}
	if diff := cmp.Diff(want, orders.Retry); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
	if p.Resiliency("frontend", "orders") != orders {
		t.Error("a pair's policy was rebuilt; its breaker state would be lost")
	}
	if p.Resiliency("worker", "orders").Breaker == orders.Breaker {
		t.Error("two callers share a breaker; each sidecar has its own")
	}

	other := p.Resiliency("frontend", "billing")
	if other == nil || other.Timeout != 9*time.Second || other.Retry == nil || other.Retry.Name != spec.DefaultRetryPolicy || other.Breaker != nil {
		t.Errorf("frontend→billing = %+v, want DefaultAppTimeoutPolicy and DefaultRetryPolicy, no breaker", other)
	}
	if got := p.Resiliency("outsider", "orders"); got != nil {
		t.Errorf("an app outside the scopes got %+v", got)
	}
}

func TestEnvValue(t *testing.T) {
	env := []string{"A=1", "DAPR_API_TOKEN=first", "B=x=y", "DAPR_API_TOKEN=last"}
	if got := envValue(env, "DAPR_API_TOKEN"); got != "last" {
		t.Errorf("DAPR_API_TOKEN = %q, want the last value", got)
	}
	if got := envValue(env, "B"); got != "x=y" {
		t.Errorf("B = %q", got)
	}
}
