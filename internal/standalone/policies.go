package standalone

import (
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/resiliency"
	"github.com/cove-env/cove/internal/resources"
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
	resiliency  *resources.Resiliency
}

var _ invoke.Policies = selfPolicies{}

// Resiliency applies the resources path's policies to this app's own
// outbound calls only: calls peers make to this app were already run
// through the caller's sidecar.
func (p selfPolicies) Resiliency(caller, target string) *resiliency.Policy {
	if p.resiliency == nil || caller != p.self || target == p.self {
		return nil
	}
	return p.resiliency.Policy(caller, target)
}

func (p selfPolicies) App(appID string) *invoke.AppSettings {
	if appID == p.self {
		return p.app
	}
	return &invoke.AppSettings{TrustDomain: p.trustDomain}
}
