package spec

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseResourcesDispatchesByKind(t *testing.T) {
	data := y(`
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec:
  type: state.sqlite
  version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: retries}
spec:
  policies:
    retries:
      three: {policy: constant, duration: 1s, maxRetries: 3}
---
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: appconfig}
spec:
  nameResolution:
    component: redis
    configuration: {redisHost: "localhost:6379", enableTLS: true, list: [a, b]}
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: orders}
spec: {topic: orders, route: /orders, pubsubname: pubsub}
---
apiVersion: dapr.io/v2alpha1
kind: Resilency
metadata: {name: typo}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub}
spec:
  type: pubsub.redis
  version: v1
  ignoreErrors: true
`)
	check := func(c *Component) error {
		if c.Kind() == "pubsub" {
			return errors.New("not supported yet")
		}
		return nil
	}
	res, probs := ParseResources("resources.yaml", []byte(data), Options{CheckComponent: check})
	checkProblems(t, "problems", probs, []string{
		"20:3 spec.nameResolution: cove does not apply spec.nameResolution yet",
		`29:1 kind: "Resilency" is not a Dapr resource kind cove reads (Component, Resiliency, Configuration, Subscription, HTTPEndpoint); this document is skipped; did you mean "Resiliency"?`,
		"37:3 spec.type: not supported yet; it is skipped, as ignoreErrors is true",
	})
	var names []string
	for _, c := range res.Components {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"statestore", "pubsub"}, names); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if res.Components[0].TypeLine != 5 {
		t.Errorf("statestore's type is on line %d, want 5 (the file's line)", res.Components[0].TypeLine)
	}
	if len(res.Resiliency) != 1 || res.Resiliency[0].Name != "retries" {
		t.Errorf("resiliency = %+v, want retries", res.Resiliency)
	}
	if len(res.Subscriptions) != 1 || res.Subscriptions[0].Default != "/orders" || res.Subscriptions[0].Line != 24 {
		t.Errorf("subscriptions = %+v, want orders routed to /orders, from line 24", res.Subscriptions)
	}
	if len(res.Configurations) != 1 {
		t.Fatalf("configurations = %+v, want appconfig", res.Configurations)
	}
	want := &NameResolutionSpec{Component: "redis", Configuration: map[string]string{"redisHost": "localhost:6379", "enableTLS": "true", "list": `["a","b"]`}}
	if diff := cmp.Diff(want, res.Configurations[0].NameResolution); diff != "" {
		t.Errorf("nameResolution (-want +got):\n%s", diff)
	}
}

func TestParseResourcesKeepsGoodDocumentsAndNamesACAComponents(t *testing.T) {
	data := y(`
componentType: state.in-memory
version: v1
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: broken}
spec:
  type: state.sqlite
  version: v1
  metadta: []
`)
	res, probs := ParseResources("dir/cache.yaml", []byte(data), Options{})
	checkProblems(t, "problems", probs, []string{`10:3 spec.metadta: unknown field; did you mean "metadata"?`})
	if len(res.Components) != 1 || res.Components[0].Name != "cache" || res.Components[0].Format != FormatACA {
		t.Errorf("components = %+v, want the ACA component named cache after its file", res.Components)
	}

	_, probs = ParseResources("dir/bad name!.yaml", []byte("componentType: state.in-memory\nversion: v1\n"), Options{})
	checkProblems(t, "problems", probs, []string{`1:1 : an ACA component is named after its file, and "bad name!" is not a component name`})

	_, probs = ParseResources("dir/x.yaml", []byte("componentType: state.in-memory\nversion: v1\n---\na: [\n"), Options{})
	if len(probs) != 1 || probs[0].Line < 4 {
		t.Errorf("problems = %v, want the syntax error in the second document, on the file's line", probs)
	}
}
