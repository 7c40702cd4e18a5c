package resources

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/spec"
)

// Resiliency resolves the policies Resiliency resources give each caller
// and target. Policies are built once per caller and target, so circuit
// breakers keep their state per pair for as long as the value lives.
type Resiliency struct {
	res []*spec.Resiliency
	log *slog.Logger

	mu            sync.Mutex
	policies      map[policyKey]*resiliency.Policy
	actorBreakers map[string]*breakerCache // caller||type → its actors' breakers
}

// policyKey names one caller's target: an app, or a component in one
// direction.
type policyKey struct {
	caller, kind, target string
}

// Dapr's component types, as its default policy names spell them
// (DefaultStatestoreComponentOutboundRetryPolicy).
const (
	ComponentStateStore    = "Statestore"
	ComponentPubsub        = "Pubsub"
	ComponentLock          = "Lock"
	ComponentConfiguration = "Configuration"
	ComponentBinding       = "Binding"
)

// NewResiliency resolves policies from res; log receives breaker state
// changes.
func NewResiliency(res []*spec.Resiliency, log *slog.Logger) *Resiliency {
	if log == nil {
		log = slog.Default()
	}
	return &Resiliency{res: res, log: log, policies: map[policyKey]*resiliency.Policy{}}
}

// Policy returns the policy caller applies to target (nil when no resource
// in caller's scope has one), built once per pair so its breaker lives on.
func (r *Resiliency) Policy(caller, target string) *resiliency.Policy {
	return r.policy(policyKey{caller, "app", target}, func(t *spec.ResiliencyTargets) *spec.TargetPolicyNames {
		return t.Apps[target]
	}, "App", "")
}

// ComponentOutbound returns the policy caller applies to its own calls to
// component, a component of type componentType (ComponentStateStore): the
// target's `outbound` policies, else Dapr's defaults for that component
// type, for outbound component calls, for components, and for everything,
// in that order. It is nil when none applies.
func (r *Resiliency) ComponentOutbound(caller, component, componentType string) *resiliency.Policy {
	return r.policy(policyKey{caller, "component-outbound", component}, func(t *spec.ResiliencyTargets) *spec.TargetPolicyNames {
		if c := t.Components[component]; c != nil {
			return c.Outbound
		}
		return nil
	}, componentType+"ComponentOutbound", "ComponentOutbound", "Component", "")
}

// ComponentInbound returns the policy caller applies to what component
// (of type componentType) delivers to it, a pub/sub's events: the
// target's `inbound` policies, else Dapr's defaults for inbound component
// calls of that type, for components, and for everything. Nil when none
// applies.
func (r *Resiliency) ComponentInbound(caller, component, componentType string) *resiliency.Policy {
	return r.policy(policyKey{caller, "component-inbound", component}, func(t *spec.ResiliencyTargets) *spec.TargetPolicyNames {
		if c := t.Components[component]; c != nil {
			return c.Inbound
		}
		return nil
	}, componentType+"ComponentInbound", "ComponentInbound", "Component", "")
}

// OutboundOf returns, for caller, the function a block asks for the
// outbound policy of each of its components, of type componentType
// (ComponentLock, ...).
func (r *Resiliency) OutboundOf(caller, componentType string) func(name string) *resiliency.Policy {
	return func(name string) *resiliency.Policy { return r.ComponentOutbound(caller, name, componentType) }
}

// InboundOf returns, for caller, the function a block asks for the inbound
// policy (deliveries to the app) of each of its components, of type
// componentType.
func (r *Resiliency) InboundOf(caller, componentType string) func(name string) *resiliency.Policy {
	return func(name string) *resiliency.Policy { return r.ComponentInbound(caller, name, componentType) }
}

// StateStoreOutbound returns, for caller, the function its state block
// asks for each store's policy.
func (r *Resiliency) StateStoreOutbound(caller string) func(store string) *resiliency.Policy {
	return func(store string) *resiliency.Policy {
		return r.ComponentOutbound(caller, store, ComponentStateStore)
	}
}

func (r *Resiliency) policy(key policyKey, target func(*spec.ResiliencyTargets) *spec.TargetPolicyNames, defaults ...string) *resiliency.Policy {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pol, ok := r.policies[key]; ok {
		return pol
	}
	pol := r.build(key, target, defaults)
	r.policies[key] = pol
	return pol
}

// build resolves, for each kind of policy, the one the first resource in
// caller's scope names for the target, else the first of Dapr's
// Default<keyword><Kind>Policy names (most specific keyword first) that a
// resource in scope defines.
func (r *Resiliency) build(key policyKey, target func(*spec.ResiliencyTargets) *spec.TargetPolicyNames, keywords []string) *resiliency.Policy {
	var out resiliency.Policy
	found := false
	pick := func(kind func(*spec.TargetPolicyNames) string, defined func(*spec.ResiliencyPolicies, string) bool, suffix string) (*spec.Resiliency, string) {
		for _, res := range r.res {
			if !res.InScope(key.caller) {
				continue
			}
			if t := target(&res.Spec.Targets); t != nil && kind(t) != "" {
				return res, kind(t)
			}
		}
		for _, kw := range keywords {
			name := "Default" + kw + suffix
			for _, res := range r.res {
				if res.InScope(key.caller) && defined(&res.Spec.Policies, name) {
					return res, name
				}
			}
		}
		return nil, ""
	}
	if res, name := pick(func(t *spec.TargetPolicyNames) string { return t.Timeout },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.Timeouts[n]; return ok },
		"TimeoutPolicy"); res != nil {
		if d, err := time.ParseDuration(res.Spec.Policies.Timeouts[name]); err == nil && d > 0 {
			out.Timeout, found = d, true
		}
	}
	if res, name := pick(func(t *spec.TargetPolicyNames) string { return t.Retry },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.Retries[n]; return ok },
		"RetryPolicy"); res != nil {
		if rp := res.Spec.Policies.Retries[name]; rp != nil {
			out.Retry, found = retryPolicy(name, rp), true
		}
	}
	if res, name := pick(func(t *spec.TargetPolicyNames) string { return t.CircuitBreaker },
		func(p *spec.ResiliencyPolicies, n string) bool { _, ok := p.CircuitBreakers[n]; return ok },
		"CircuitBreakerPolicy"); res != nil {
		if cb := res.Spec.Policies.CircuitBreakers[name]; cb != nil {
			if b := r.breaker(key, name, cb); b != nil {
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

func (r *Resiliency) breaker(key policyKey, name string, s *spec.CircuitBreakerSpec) *resiliency.Breaker {
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
	log := r.log.With("app", key.caller, "policy", name)
	switch key.kind {
	case "app":
		log = log.With("target", key.target)
	case "actor", "actor-id":
		log = log.With("actor", key.target)
	default:
		log = log.With("component", key.target)
	}
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
