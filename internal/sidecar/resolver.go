package sidecar

import (
	"context"
	"fmt"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/routing"
)

// RoutingResolver resolves Dapr app ids through the environment's routing
// table, picking ready replicas of every active revision round robin,
// whatever the ingress traffic weights: invocation by app id is not
// ingress traffic. It reads the current table on
// every call, so replicas that come and go are seen at once. Each call is
// counted on its replica until the invoker reports it done, so a revision
// being retired waits for the invocations it is serving.
type RoutingResolver struct {
	Source *routing.Source
}

var _ invoke.Resolver = RoutingResolver{}

// Resolve returns a ready replica of the app whose Dapr app id is appID.
func (r RoutingResolver) Resolve(_ context.Context, appID string) (invoke.Target, error) {
	app, ok := r.Source.Load().DaprApp(appID)
	if !ok {
		return invoke.Target{}, fmt.Errorf("%w: %s", invoke.ErrAppNotFound, appID)
	}
	ep, ok := app.PickAny()
	if !ok {
		return invoke.Target{}, fmt.Errorf("%w: app %s has none", invoke.ErrNoReadyReplica, appID)
	}
	return invoke.Target{AppID: appID, Addr: ep.Addr, Protocol: app.AppProtocol, Done: ep.BeginInvocation()}, nil
}
