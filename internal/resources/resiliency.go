package resources

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/spec"
)

// Resiliency resolves the policies Resiliency resources give each caller
// and target. Policies are built once per pair, so circuit breakers keep
// their state per caller and target for as long as the value lives.
type Resiliency struct {
	res []*spec.Resiliency
	log *slog.Logger

	mu       sync.Mutex
	policies map[[2]string]*resiliency.Policy
}

// NewResiliency resolves policies from res; log receives breaker state
// changes.
func NewResiliency(res []*spec.Resiliency, log *slog.Logger) *Resiliency {
	if log == nil {
		log = slog.Default()
	}
	return &Resiliency{res: res, log: log, policies: map[[2]string]*resiliency.Policy{}}
}

// Policy returns the policy caller applies to target (nil when no resource
// in caller's scope has one), built once per pair so its breaker lives on.
func (r *Resiliency) Policy(caller, target string) *resiliency.Policy {
	key := [2]string{caller, target}
	r.mu.Lock()
	defer r.mu.Unlock()
	if pol, ok := r.policies[key]; ok {
		return pol
	}
	pol := r.build(caller, target)
	r.policies[key] = pol
	return pol
}

// build resolves, for each kind of policy, the one the first resource in
// caller's scope names for target, else Dapr's DefaultApp<Kind>Policy,
// else Default<Kind>Policy.
func (r *Resiliency) build(caller, target string) *resiliency.Policy {
	var out resiliency.Policy
	found := false
	pick := func(kind func(*spec.TargetPolicyNames) string, defined func(*spec.ResiliencyPolicies, string) bool, defaults ...string) (*spec.Resiliency, string) {
		for _, res := range r.res {
			if !res.InScope(caller) {
				continue
			}
			if t := res.Spec.Targets.Apps[target]; t != nil && kind(t) != "" {
				return res, kind(t)
			}
		}
		for _, name := range defaults {
			for _, res := range r.res {
				if res.InScope(caller) && defined(&res.Spec.Policies, name) {
					return res, name
				}
			}
		}
		return nil, ""
	}
	if res, name := pick(func(t *spec.TargetPolicyNames) string { return t.Timeout },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.Timeouts[n]; return ok },
		spec.DefaultAppTimeoutPolicy, spec.DefaultTimeoutPolicy); res != nil {
		if d, err := time.ParseDuration(res.Spec.Policies.Timeouts[name]); err == nil && d > 0 {
			out.Timeout, found = d, true
		}
	}
	if res, name := pick(func(t *spec.TargetPolicyNames) string { return t.Retry },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.Retries[n]; return ok },
		spec.DefaultAppRetryPolicy, spec.DefaultRetryPolicy); res != nil {
		if rp := res.Spec.Policies.Retries[name]; rp != nil {
			out.Retry, found = retryPolicy(name, rp), true
		}
	}
	if res, name := pick(func(t *spec.TargetPolicyNames) string { return t.CircuitBreaker },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.CircuitBreakers[n]; return ok },
		spec.DefaultAppCircuitBreakerPolicy, spec.DefaultCircuitBreakerPolicy); res != nil {
		if cb := res.Spec.Policies.CircuitBreakers[name]; cb != nil {
			if b := r.breaker(caller, target, name, cb); b != nil {
				out.Breaker, found = b, true
			}
		}
	}
	if !found {
		return nil
	}
	return &out
}

func retryPolicy(name string, s *spec.RetryPolicySpec) *resiliency.Retry {
	r := &resiliency.Retry{
		Name: name, Kind: s.Policy, MaxRetries: -1,
		Interval:            durationOr(s.Duration, resiliency.DefaultConstantInterval),
		InitialInterval:     durationOr(s.InitialInterval, resiliency.DefaultInitialInterval),
		MaxInterval:         durationOr(s.MaxInterval, resiliency.DefaultMaxInterval),
		MaxElapsedTime:      durationOr(s.MaxElapsedTime, resiliency.DefaultMaxElapsedTime),
		RandomizationFactor: resiliency.DefaultRandomizationFactor,
		Multiplier:          resiliency.DefaultMultiplier,
	}
	if s.MaxRetries != nil {
		r.MaxRetries = *s.MaxRetries
	}
	if s.RandomizationFactor != nil {
		r.RandomizationFactor = *s.RandomizationFactor
	}
	if s.Multiplier != nil {
		r.Multiplier = *s.Multiplier
	}
	if m := s.Matching; m != nil {
		// Validated by spec, so errors cannot happen. An empty list
		// retries every code of its kind, as in Dapr.
		r.HTTPStatusCodes, _ = resiliency.ParseHTTPCodes(m.HTTPStatusCodes)
		r.GRPCStatusCodes, _ = resiliency.ParseGRPCCodes(m.GRPCStatusCodes)
	}
	return r
}

func (r *Resiliency) breaker(caller, target, name string, s *spec.CircuitBreakerSpec) *resiliency.Breaker {
	expr := s.Trip
	if expr == "" {
		expr = resiliency.DefaultTrip
	}
	trip, err := resiliency.CompileTrip(expr)
	if err != nil { // spec compiled it already
		r.log.Warn("circuit breaker not applied", "policy", name, "err", err)
		return nil
	}
	bp := resiliency.BreakerPolicy{
		Name: name, Trip: trip,
		Interval: durationOr(s.Interval, 0),
		Timeout:  durationOr(s.Timeout, resiliency.DefaultBreakerTimeout),
	}
	if s.MaxRequests != nil {
		bp.MaxRequests = *s.MaxRequests
	}
	log := r.log.With("app", caller, "target", target, "policy", name)
	return resiliency.NewBreaker(bp, func(from, to resiliency.State) {
		log.Info("circuit breaker changed state", "from", from.String(), "to", to.String())
	})
}

func durationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil {
		return d
	}
	return def
}
