package standalone

import (
	"strconv"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/spec"
)

// selfPolicies are the invocation rules of a standalone sidecar, whose
// Invoker calls its own app for peers and peers for its app. Only its own
// app's rules live here (its access control, enforced on calls arriving
// from peers with the caller taken from the certificate; its
// APP_API_TOKEN); each peer enforces its own. Every caller that got
// through the handshake is in this sidecar's trust domain.
type selfPolicies struct {
	self        string
	app         *invoke.AppSettings
	trustDomain string
}

var _ invoke.Policies = selfPolicies{}

// Resiliency policies are not loaded from resources paths yet.
func (selfPolicies) Resiliency(string, string) *resiliency.Policy { return nil }

func (p selfPolicies) App(appID string) *invoke.AppSettings {
	if appID == p.self {
		return p.app
	}
	return &invoke.AppSettings{TrustDomain: p.trustDomain}
}

// accessControl translates a Configuration's access control as daprd
// reads it: without a defaultAction it denies when policies are listed and
// allows otherwise. It mirrors the environment's translation.
func accessControl(ac *spec.AccessControl) *invoke.AccessControl {
	if ac == nil {
		return nil
	}
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

// traceSampling is spec.tracing.samplingRate, nil when unset.
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
