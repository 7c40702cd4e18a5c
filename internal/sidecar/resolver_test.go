package sidecar

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/routing"
)

func TestRoutingResolver(t *testing.T) {
	var src routing.Source
	src.Store(routing.NewTable([]*routing.App{
		{Name: "web", DaprAppID: "web-dapr", Endpoints: []routing.Endpoint{
			{Replica: "web-b", Addr: "127.0.0.1:2"}, {Replica: "web-a", Addr: "127.0.0.1:1"},
		}},
		{Name: "orders", DaprAppID: "orders", Revisions: []*routing.Revision{
			{Name: "orders--v1", Weight: 100, Endpoints: []routing.Endpoint{{Replica: "orders--v1-0", Addr: "127.0.0.1:3"}}},
			{Name: "orders--v2", Weight: 0, Endpoints: []routing.Endpoint{{Replica: "orders--v2-0", Addr: "127.0.0.1:4"}}},
		}},
		{Name: "idle", DaprAppID: "idle"},
		{Name: "plain"},
	}))
	r := RoutingResolver{Source: &src}

	var got []string
	for range 3 {
		tgt, err := r.Resolve(t.Context(), "web-dapr")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tgt.Addr)
	}
	if diff := cmp.Diff([]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1"}, got); diff != "" {
		t.Errorf("round robin picks (-want +got):\n%s", diff)
	}

	// Invocation by app id is not ingress traffic: a revision without
	// traffic weight gets its turn too.
	got = nil
	for range 4 {
		tgt, err := r.Resolve(t.Context(), "orders")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tgt.Addr)
	}
	if diff := cmp.Diff([]string{"127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:3", "127.0.0.1:4"}, got); diff != "" {
		t.Errorf("picks across revisions (-want +got):\n%s", diff)
	}

	// Each resolved call is in flight on its replica until it is done; the
	// calls above were never reported done, so count from where they left it.
	orders, _ := src.Load().DaprApp("orders")
	ep, _ := orders.Endpoint("orders--v1-0")
	before := ep.InFlight()
	tgt, err := r.Resolve(t.Context(), "orders")
	if err != nil || tgt.Addr != ep.Addr {
		t.Fatalf("resolved %+v (%v), want the next turn, %s", tgt, err, ep.Addr)
	}
	if ep.InFlight() != before+1 || ep.Outstanding() != 0 {
		t.Errorf("a resolved call: %d in flight (%d before), %d outstanding at the edge", ep.InFlight(), before, ep.Outstanding())
	}
	tgt.Done()
	if ep.InFlight() != before {
		t.Errorf("%d in flight after the call was done, want %d", ep.InFlight(), before)
	}

	tests := []struct {
		name  string
		appID string
		want  error
	}{
		{name: "app name is not a dapr id", appID: "web", want: invoke.ErrAppNotFound},
		{name: "app without dapr", appID: "plain", want: invoke.ErrAppNotFound},
		{name: "no ready replica", appID: "idle", want: invoke.ErrNoReadyReplica},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Resolve(t.Context(), tc.appID); !errors.Is(err, tc.want) {
				t.Errorf("Resolve(%q) = %v, want %v", tc.appID, err, tc.want)
			}
		})
	}
}
