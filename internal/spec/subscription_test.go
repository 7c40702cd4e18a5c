package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSubscription(t *testing.T) {
	v2 := y(`
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: orders}
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    rules:
      - match: event.type == "order.created"
        path: /created
    default: /orders
  deadLetterTopic: poison
  metadata: {rawPayload: true}
scopes: [backend]
`)
	s, d := parseSubscription("sub.yaml", []byte(v2))
	checkProblems(t, "v2", d.probs, nil)
	want := &Subscription{Name: "orders", File: "sub.yaml", Line: 1, Scopes: []string{"backend"}, Pubsub: "pubsub", Topic: "orders",
		Rules: []SubscriptionRule{{Match: `event.type == "order.created"`, Path: "/created"}}, Default: "/orders",
		DeadLetterTopic: "poison", Metadata: map[string]string{"rawPayload": "true"}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("v2 (-want +got):\n%s", diff)
	}
	if !s.InScope("backend") || s.InScope("frontend") {
		t.Error("scopes not applied")
	}

	v1 := y(`
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: old}
spec: {pubsubname: pubsub, topic: t, route: /t}
`)
	s, d = parseSubscription("v1.yaml", []byte(v1))
	checkProblems(t, "v1", d.probs, nil)
	if s.Default != "/t" || len(s.Rules) != 0 || !s.InScope("anyone") {
		t.Errorf("v1 = %+v", s)
	}
}

func TestParseSubscriptionProblems(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
	}{
		{name: "bad CEL", data: `
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s}
spec:
  pubsubname: p
  topic: t
  routes:
    rules:
      - {match: 'event.type == ', path: /a}
`, want: []string{`9:10 spec.routes.rules[0].match: "event.type == " is not a CEL expression: 1:15: Syntax error: mismatched input`}},
		{name: "missing names and route", data: `
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s}
spec: {}
`, want: []string{"4:1 spec.pubsubname: required", "4:1 spec.topic: required", "4:1 spec.routes: required"}},
		{name: "v1 route in v2", data: `
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s}
spec: {pubsubname: p, topic: t, route: /x}
`, want: []string{"4:33 spec.route: dapr.io/v2alpha1 subscriptions route with spec.routes"}},
		{name: "v2 routes in v1", data: `
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: s}
spec: {pubsubname: p, topic: t, routes: {default: /x}}
`, want: []string{"4:33 spec.routes: spec.routes needs apiVersion dapr.io/v2alpha1"}},
		{name: "typo", data: `
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: s}
spec: {pubsubname: p, topic: t, routes: {default: /x}, deadLetterTopc: d}
`, want: []string{`4:56 spec.deadLetterTopc: unknown field; did you mean "deadLetterTopic"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := parseSubscription("s.yaml", []byte(y(tt.data)))
			checkProblems(t, tt.name, d.probs, tt.want)
		})
	}
}

func TestParseACASubscription(t *testing.T) {
	data := y(`
type: Microsoft.App/managedEnvironments/daprSubscriptions
properties:
  pubsubName: pubsub
  topic: orders
  routes:
    rules:
      - {match: 'event.type == "urgent"', path: /urgent}
    default: /orders
  deadLetterTopic: poison
  metadata: {rawPayload: "false"}
  bulkSubscribe: {enabled: true, maxMessagesCount: 10}
  scopes: [backend]
`)
	s, d := parseSubscription("subs/orders-sub.yaml", []byte(data))
	checkProblems(t, "aca", d.probs, nil)
	want := &Subscription{Name: "orders-sub", File: "subs/orders-sub.yaml", Line: 1, Scopes: []string{"backend"}, Pubsub: "pubsub",
		Topic: "orders", Rules: []SubscriptionRule{{Match: `event.type == "urgent"`, Path: "/urgent"}}, Default: "/orders",
		DeadLetterTopic: "poison", Metadata: map[string]string{"rawPayload": "false"}, Bulk: &SubscriptionBulk{MaxMessagesCount: 10}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("aca (-want +got):\n%s", diff)
	}

	_, d = parseSubscription("s.yaml", []byte(y(`
name: named
properties:
  pubsubName: pubsub
  topc: orders
  routes: {rules: [{match: "event.type ==", path: /a}]}
`)))
	checkProblems(t, "aca problems", d.probs, []string{
		`4:3 properties.topc: unknown field; did you mean "topic"?`,
		"2:1 properties.topic: required",
		`5:21 properties.routes.rules[0].match: "event.type ==" is not a CEL expression`,
	})
}

func TestParseSubscriptionBulk(t *testing.T) {
	data := y(`
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: orders}
spec:
  pubsubname: pubsub
  topic: orders
  routes: {default: /orders}
  bulkSubscribe: {enabled: true, maxMessagesCount: 50, maxAwaitDurationMs: 200}
`)
	s, d := parseSubscription("orders.yaml", []byte(data))
	checkProblems(t, "enabled", d.probs, nil)
	if diff := cmp.Diff(&SubscriptionBulk{MaxMessagesCount: 50, MaxAwaitDurationMs: 200}, s.Bulk); diff != "" {
		t.Errorf("bulk (-want +got):\n%s", diff)
	}
	off := strings.Replace(data, "enabled: true", "enabled: false", 1)
	if s, _ := parseSubscription("orders.yaml", []byte(off)); s.Bulk != nil {
		t.Errorf("bulkSubscribe not enabled: got %+v, want nil", s.Bulk)
	}
	bad := strings.Replace(data, "maxMessagesCount: 50", "maxMessagesCount: -1", 1)
	_, d = parseSubscription("orders.yaml", []byte(bad))
	checkProblems(t, "negative", d.probs, []string{"8:34 spec.bulkSubscribe.maxMessagesCount: -1 is negative"})
}
