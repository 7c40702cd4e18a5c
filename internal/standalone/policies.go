package standalone

import (
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/resiliency"
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
