package resources

import (
	"container/list"
	"time"

	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/spec"
)

// defaultActorBreakers is how many actors' circuit breakers a type keeps
// when its target does not say (circuitBreakerCacheSize), Dapr's default.
const defaultActorBreakers = 5000

// ActorPolicies are one caller's policies for actor calls: a Resiliency
// resource's targets.actors by type, else Dapr's DefaultActor<Kind>Policy
// and Default<Kind>Policy. It implements actors.Policies.
type ActorPolicies struct {
	r      *Resiliency
	caller string
}

// Actors returns caller's policies for actor calls.
func (r *Resiliency) Actors(caller string) *ActorPolicies {
	return &ActorPolicies{r: r, caller: caller}
}

// target is the first actor target in the caller's scope for a type.
func (a *ActorPolicies) target(typ string) *spec.ActorTargetPolicies {
	for _, res := range a.r.res {
		if t := res.Spec.Targets.Actors[typ]; t != nil && res.InScope(a.caller) {
			return t
		}
	}
	return nil
}

// typePolicy is the type's timeout, retry and type-wide breaker, built
// once per caller and type.
func (a *ActorPolicies) typePolicy(typ string) *resiliency.Policy {
	return a.r.policy(policyKey{a.caller, "actor", typ}, func(t *spec.ResiliencyTargets) *spec.TargetPolicyNames {
		if at := t.Actors[typ]; at != nil {
			return &spec.TargetPolicyNames{Timeout: at.Timeout, Retry: at.Retry, CircuitBreaker: at.CircuitBreaker}
		}
		return nil
	}, "Actor", "")
}

// Call returns the retry and circuit breakers of a call of an actor's
// method, outermost first: with circuitBreakerScope type, one breaker for
// every actor of the type; id, one per actor (the last
// circuitBreakerCacheSize actors called); both, the two, each call passing
// both. Dapr's default breaker policies are by type.
func (a *ActorPolicies) Call(typ, id string) []*resiliency.Policy {
	base := a.typePolicy(typ)
	if base == nil || base.Retry == nil && base.Breaker == nil {
		return nil
	}
	scope, size := spec.ActorScopeType, defaultActorBreakers
	if t := a.target(typ); t != nil && t.CircuitBreaker != "" {
		scope = t.CircuitBreakerScope
		if t.CircuitBreakerCacheSize > 0 {
			size = t.CircuitBreakerCacheSize
		}
	}
	if base.Breaker == nil || scope == spec.ActorScopeType {
		return []*resiliency.Policy{{Retry: base.Retry, Breaker: base.Breaker}}
	}
	outer := &resiliency.Policy{Retry: base.Retry}
	if scope == spec.ActorScopeBoth {
		outer.Breaker = base.Breaker
	}
	return []*resiliency.Policy{outer, {Breaker: a.idBreaker(typ, id, size)}}
}

// Timeout is the bound of each call to the app hosting an actor of the
// type, once the call has the actor's turn.
func (a *ActorPolicies) Timeout(typ string) time.Duration {
	if p := a.typePolicy(typ); p != nil {
		return p.Timeout
	}
	return 0
}

// idBreaker is an actor's own breaker, from a cache of the type's last
// size actors called, as daprd keeps them.
func (a *ActorPolicies) idBreaker(typ, id string, size int) *resiliency.Breaker {
	key := policyKey{a.caller, "actor-id", typ + "||" + id}
	r := a.r
	r.mu.Lock()
	if r.actorBreakers == nil {
		r.actorBreakers = map[string]*breakerCache{}
	}
	c := r.actorBreakers[a.caller+"||"+typ]
	if c == nil {
		c = &breakerCache{size: size, items: map[policyKey]*list.Element{}}
		r.actorBreakers[a.caller+"||"+typ] = c
	}
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		b := el.Value.(*cachedBreaker).b
		r.mu.Unlock()
		return b
	}
	r.mu.Unlock()
	// Built outside the lock, which policy takes.
	p := r.build(key, func(t *spec.ResiliencyTargets) *spec.TargetPolicyNames {
		if at := t.Actors[typ]; at != nil {
			return &spec.TargetPolicyNames{CircuitBreaker: at.CircuitBreaker}
		}
		return nil
	}, nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := c.items[key]; ok {
		return el.Value.(*cachedBreaker).b
	}
	var b *resiliency.Breaker
	if p != nil {
		b = p.Breaker
	}
	c.items[key] = c.order.PushFront(&cachedBreaker{key, b})
	if c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cachedBreaker).key)
	}
	return b
}

// breakerCache keeps the breakers of a type's most recently called actors.
type breakerCache struct {
	size  int
	order list.List // front: the most recent
	items map[policyKey]*list.Element
}

type cachedBreaker struct {
	key policyKey
	b   *resiliency.Breaker
}
