package resources_test

import (
	"strings"
	"testing"

	_ "github.com/cove-env/cove/internal/components/bindings/cron"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// TestCheckMetadataAtItsLine: a type's own check of its metadata (a cron
// schedule that does not parse) is a validation error at the item's value,
// file:line:column; a good schedule and a secret reference pass.
func TestCheckMetadataAtItsLine(t *testing.T) {
	const file = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: tick
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: route
    value: /tick
  - name: schedule
    value: "every five seconds"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: fine
spec:
  type: bindings.cron
  version: v1
  metadata:
  - name: schedule
    value: "@every 5s"
`
	_, probs := spec.ParseResources("cron.yaml", []byte(file), spec.Options{CheckComponent: resources.CheckType})
	if len(probs) != 1 {
		t.Fatalf("problems = %v; want one, at the schedule", probs)
	}
	got := probs[0].String()
	for _, want := range []string{`cron.yaml:12:5: spec.metadata[1].value: invalid schedule "every five seconds"`, "@every 15s"} {
		if !strings.Contains(got, want) {
			t.Errorf("problem %q does not say %q", got, want)
		}
	}
	if probs[0].Severity != spec.SeverityError {
		t.Errorf("severity %v; want an error", probs[0].Severity)
	}
}
