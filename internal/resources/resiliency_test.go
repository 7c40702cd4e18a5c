package resources_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

func parseResiliency(t *testing.T, yaml string) *spec.Resiliency {
	t.Helper()
	res, probs := spec.ParseResiliency("res.yaml", []byte(yaml))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}

// summary is what a policy resolves to, comparable with cmp.
type summary struct {
	Timeout time.Duration
	Retry   string
	Breaker bool
}

func summarize(p *resiliency.Policy) *summary {
	if p == nil {
		return nil
	}
	s := &summary{Timeout: p.Timeout, Breaker: p.Breaker != nil}
	if p.Retry != nil {
		s.Retry = p.Retry.Name
	}
	return s
}

func TestComponentOutboundPolicy(t *testing.T) {
	defaults := parseResiliency(t, `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: defaults}
spec:
  policies:
    timeouts:
      DefaultTimeoutPolicy: 9s
      DefaultComponentTimeoutPolicy: 8s
      DefaultComponentOutboundTimeoutPolicy: 7s
      DefaultStatestoreComponentOutboundTimeoutPolicy: 6s
      DefaultAppTimeoutPolicy: 1s
      short: 2s
    retries:
      DefaultRetryPolicy: {maxRetries: 1}
      DefaultComponentInboundRetryPolicy: {maxRetries: 2}
      fast: {duration: 10ms, maxRetries: 3}
    circuitBreakers:
      DefaultStatestoreComponentOutboundCircuitBreakerPolicy: {trip: consecutiveFailures > 2}
  targets:
    components:
      orders:
        outbound: {timeout: short, retry: fast}
      events:
        inbound: {timeout: short}
`)
	scoped := parseResiliency(t, `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: scoped}
scopes: [front]
spec:
  policies:
    timeouts: {long: 30s}
  targets:
    components:
      orders:
        outbound: {timeout: long}
`)
	onlyGlobal := parseResiliency(t, `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: global}
spec:
  policies:
    timeouts: {DefaultComponentTimeoutPolicy: 4s}
`)
	tests := []struct {
		name      string
		res       []*spec.Resiliency
		caller    string
		component string
		want      *summary
	}{
		{name: "named target, defaults fill the rest", res: []*spec.Resiliency{defaults}, caller: "back", component: "orders",
			want: &summary{Timeout: 2 * time.Second, Retry: "fast", Breaker: true}},
		{name: "state store defaults, most specific first", res: []*spec.Resiliency{defaults}, caller: "back", component: "cache",
			want: &summary{Timeout: 6 * time.Second, Retry: "DefaultRetryPolicy", Breaker: true}},
		{name: "inbound policies do not apply outbound", res: []*spec.Resiliency{defaults}, caller: "back", component: "events",
			want: &summary{Timeout: 6 * time.Second, Retry: "DefaultRetryPolicy", Breaker: true}},
		{name: "first resource in scope wins", res: []*spec.Resiliency{scoped, defaults}, caller: "front", component: "orders",
			want: &summary{Timeout: 30 * time.Second, Retry: "fast", Breaker: true}},
		{name: "out of scope resource ignored", res: []*spec.Resiliency{scoped, defaults}, caller: "back", component: "orders",
			want: &summary{Timeout: 2 * time.Second, Retry: "fast", Breaker: true}},
		{name: "component default", res: []*spec.Resiliency{onlyGlobal}, caller: "back", component: "orders",
			want: &summary{Timeout: 4 * time.Second}},
		{name: "nothing applies", res: []*spec.Resiliency{scoped}, caller: "back", component: "orders", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resources.NewResiliency(tt.res, nil)
			got := summarize(r.StateStoreOutbound(tt.caller)(tt.component))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
		})
	}
}

// TestComponentInboundPolicy: a pub/sub's deliveries take the target's
// inbound policies, then the inbound defaults; outbound ones never apply.
func TestComponentInboundPolicy(t *testing.T) {
	res := parseResiliency(t, `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    timeouts: {DefaultComponentOutboundTimeoutPolicy: 7s, DefaultPubsubComponentInboundTimeoutPolicy: 5s, short: 2s}
    retries:
      DefaultComponentInboundRetryPolicy: {maxRetries: 2}
      fast: {duration: 10ms, maxRetries: 3}
  targets:
    components:
      events:
        inbound: {timeout: short, retry: fast}
        outbound: {timeout: short}
`)
	r := resources.NewResiliency([]*spec.Resiliency{res}, nil)
	out, in := r.OutboundOf("app", resources.ComponentPubsub), r.InboundOf("app", resources.ComponentPubsub)
	if diff := cmp.Diff(&summary{Timeout: 2 * time.Second, Retry: "fast"}, summarize(in("events"))); diff != "" {
		t.Errorf("named inbound (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&summary{Timeout: 5 * time.Second, Retry: "DefaultComponentInboundRetryPolicy"}, summarize(in("other"))); diff != "" {
		t.Errorf("inbound defaults (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&summary{Timeout: 7 * time.Second}, summarize(out("other"))); diff != "" {
		t.Errorf("outbound (-want +got):\n%s", diff)
	}
}

// TestComponentPolicyBreakers: each caller has its own breaker per
// component, kept across lookups, and apart from its app targets.
func TestComponentPolicyBreakers(t *testing.T) {
	res := parseResiliency(t, `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    circuitBreakers:
      DefaultCircuitBreakerPolicy: {trip: consecutiveFailures > 2}
`)
	r := resources.NewResiliency([]*spec.Resiliency{res}, nil)
	a := r.ComponentOutbound("front", "orders", resources.ComponentStateStore)
	if a == nil || a.Breaker == nil {
		t.Fatal("no breaker from DefaultCircuitBreakerPolicy")
	}
	if again := r.ComponentOutbound("front", "orders", resources.ComponentStateStore); again != a {
		t.Error("a second lookup built a new policy; its breaker would start closed")
	}
	if other := r.ComponentOutbound("back", "orders", resources.ComponentStateStore); other == a {
		t.Error("two callers share one breaker")
	}
	if app := r.Policy("front", "orders"); app == a {
		t.Error("an app named like the component shares its policy")
	}
}

// TestActorPolicies: targets.actors by type, with the circuit breaker's
// scope: one breaker per type, per actor, or both; Dapr's DefaultActor
// policies for other types.
func TestActorPolicies(t *testing.T) {
	res := parseResiliency(t, `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    timeouts: {short: 2s, DefaultActorTimeoutPolicy: 9s}
    retries:
      fast: {duration: 10ms, maxRetries: 3}
      DefaultActorRetryPolicy: {maxRetries: 1}
    circuitBreakers:
      cb: {trip: consecutiveFailures > 2}
  targets:
    actors:
      ByType: {timeout: short, retry: fast, circuitBreaker: cb, circuitBreakerScope: type}
      ByID: {circuitBreaker: cb, circuitBreakerScope: id, circuitBreakerCacheSize: 1}
      Both: {circuitBreaker: cb, circuitBreakerScope: both}
`)
	a := resources.NewResiliency([]*spec.Resiliency{res}, nil).Actors("app")
	breakers := func(p []*resiliency.Policy) []*resiliency.Breaker {
		var out []*resiliency.Breaker
		for _, pol := range p {
			if pol.Breaker != nil {
				out = append(out, pol.Breaker)
			}
		}
		return out
	}

	x, y := a.Call("ByType", "x"), a.Call("ByType", "y")
	if len(x) != 1 || x[0].Retry == nil || x[0].Retry.Name != "fast" || x[0].Breaker == nil || x[0].Breaker != y[0].Breaker {
		t.Fatalf("scope type: %+v %+v, want the retry and one breaker for both actors", x, y)
	}
	if d := a.Timeout("ByType"); d != 2*time.Second {
		t.Fatalf("timeout %v", d)
	}

	bx, by := breakers(a.Call("ByID", "x")), breakers(a.Call("ByID", "y"))
	if len(bx) != 1 || len(by) != 1 || bx[0] == by[0] {
		t.Fatalf("scope id: breakers %v %v, want one each", bx, by)
	}
	// With a cache of one, x's breaker was dropped for y's: x starts anew.
	if again := breakers(a.Call("ByID", "y")); again[0] != by[0] {
		t.Fatal("scope id: an actor's breaker not kept")
	}
	if again := breakers(a.Call("ByID", "x")); again[0] == bx[0] {
		t.Fatal("scope id: the cache kept more actors than circuitBreakerCacheSize")
	}

	b1, b2 := breakers(a.Call("Both", "x")), breakers(a.Call("Both", "y"))
	if len(b1) != 2 || len(b2) != 2 || b1[0] != b2[0] || b1[1] == b2[1] {
		t.Fatalf("scope both: %v %v, want the type's breaker and each actor's", b1, b2)
	}

	other := a.Call("Other", "x")
	if len(other) != 1 || other[0].Retry == nil || other[0].Retry.Name != "DefaultActorRetryPolicy" || a.Timeout("Other") != 9*time.Second {
		t.Fatalf("defaults: %+v, timeout %v", other, a.Timeout("Other"))
	}
}
