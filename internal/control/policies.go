package control

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/spec"
)

// envPolicies are the invocation rules of an environment: every app's
// sidecar settings (from its env and Dapr Configuration) and the
// resiliency policies each caller applies (from the Resiliency resources
// in its scope). Circuit breakers keep their state per caller and target
// for as long as the environment runs.
type envPolicies struct {
	res  []*spec.Resiliency
	apps map[string]*invoke.AppSettings
	log  *slog.Logger

	mu       sync.Mutex
	policies map[[2]string]*resiliency.Policy
}

var _ invoke.Policies = (*envPolicies)(nil)

// newPolicies builds the rules from the apps as translated (their env
// resolved) and the environment's resources.
func newPolicies(env *spec.Environment, apps []*appRuntime, log *slog.Logger) *envPolicies {
	p := &envPolicies{res: env.Resiliency, apps: map[string]*invoke.AppSettings{}, log: log,
		policies: map[[2]string]*resiliency.Policy{}}
	for _, a := range apps {
		if a.daprAppID == "" {
			continue
		}
		s := &invoke.AppSettings{AppToken: envValue(a.env, "APP_API_TOKEN")}
		if c := a.entry.DaprConfig; c != nil && c.AccessControl != nil {
			s.Access = accessControl(c.AccessControl)
			s.TrustDomain = c.AccessControl.TrustDomain
		}
		p.apps[a.daprAppID] = s
	}
	return p
}

// envValue is the last value of name in a KEY=VALUE list.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// App returns appID's sidecar settings.
func (p *envPolicies) App(appID string) *invoke.AppSettings { return p.apps[appID] }

// Resiliency returns the policy caller applies to target, built once per
// pair so its breaker lives on.
func (p *envPolicies) Resiliency(caller, target string) *resiliency.Policy {
	key := [2]string{caller, target}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pol, ok := p.policies[key]; ok {
		return pol
	}
	pol := p.build(caller, target)
	p.policies[key] = pol
	return pol
}

// build resolves, for each kind of policy, the one the first resource in
// caller's scope names for target, else Dapr's DefaultApp<Kind>Policy,
// else Default<Kind>Policy.
func (p *envPolicies) build(caller, target string) *resiliency.Policy {
	var out resiliency.Policy
	found := false
	pick := func(kind func(*spec.TargetPolicyNames) string, defined func(*spec.ResiliencyPolicies, string) bool, defaults ...string) (*spec.Resiliency, string) {
		for _, r := range p.res {
			if !r.InScope(caller) {
				continue
			}
			if t := r.Spec.Targets.Apps[target]; t != nil && kind(t) != "" {
				return r, kind(t)
			}
		}
		for _, name := range defaults {
			for _, r := range p.res {
				if r.InScope(caller) && defined(&r.Spec.Policies, name) {
					return r, name
				}
			}
		}
		return nil, ""
	}
	if r, name := pick(func(t *spec.TargetPolicyNames) string { return t.Timeout },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.Timeouts[n]; return ok },
		spec.DefaultAppTimeoutPolicy, spec.DefaultTimeoutPolicy); r != nil {
		if d, err := time.ParseDuration(r.Spec.Policies.Timeouts[name]); err == nil && d > 0 {
			out.Timeout, found = d, true
		}
	}
	if r, name := pick(func(t *spec.TargetPolicyNames) string { return t.Retry },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.Retries[n]; return ok },
		spec.DefaultAppRetryPolicy, spec.DefaultRetryPolicy); r != nil {
		if rp := r.Spec.Policies.Retries[name]; rp != nil {
			out.Retry, found = retryPolicy(name, rp), true
		}
	}
	if r, name := pick(func(t *spec.TargetPolicyNames) string { return t.CircuitBreaker },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.CircuitBreakers[n]; return ok },
		spec.DefaultAppCircuitBreakerPolicy, spec.DefaultCircuitBreakerPolicy); r != nil {
		if cb := r.Spec.Policies.CircuitBreakers[name]; cb != nil {
			if b := p.breaker(caller, target, name, cb); b != nil {
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

func (p *envPolicies) breaker(caller, target, name string, s *spec.CircuitBreakerSpec) *resiliency.Breaker {
	expr := s.Trip
	if expr == "" {
		expr = resiliency.DefaultTrip
	}
	trip, err := resiliency.CompileTrip(expr)
	if err != nil { // spec compiled it already
		p.log.Warn("circuit breaker not applied", "policy", name, "err", err)
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
	log := p.log.With("app", caller, "target", target, "policy", name)
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

// accessControl translates a Configuration's access control as daprd
// reads it: without a defaultAction it denies when policies are listed
// and allows otherwise.
func accessControl(ac *spec.AccessControl) *invoke.AccessControl {
	out := &invoke.AccessControl{Policies: map[string]*invoke.AccessPolicy{}}
	switch ac.DefaultAction {
	case "allow":
		out.DefaultAllow = true
	case "":
		out.DefaultAllow = len(ac.Policies) == 0
	}
	for _, p := range ac.Policies {
		ap := &invoke.AccessPolicy{TrustDomain: p.TrustDomain, Namespace: p.Namespace}
		if p.DefaultAction != "" {
			allow := p.DefaultAction == "allow"
			ap.DefaultAllow = &allow
		}
		for _, op := range p.Operations {
			ap.Operations = append(ap.Operations, invoke.AccessOperation{Name: op.Name, Verbs: op.HTTPVerb, Allow: op.Action == "allow"})
		}
		out.Policies[p.AppID] = ap
	}
	return out
}

// traceSampling is an app's spec.tracing.samplingRate, nil when unset.
func traceSampling(c *spec.DaprConfiguration) *float64 {
	if c == nil || c.Tracing == nil || c.Tracing.SamplingRate == "" {
		return nil
	}
	f, err := strconv.ParseFloat(c.Tracing.SamplingRate, 64)
	if err != nil {
		return nil
	}
	return &f
}
