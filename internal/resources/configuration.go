package resources

import (
	"strconv"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/spec"
)

// AccessControl translates a Configuration's access control as daprd
// reads it: without a defaultAction it denies when policies are listed and
// allows otherwise. A nil ac is nil: no access control.
func AccessControl(ac *spec.AccessControl) *invoke.AccessControl {
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

// TraceSampling is a Configuration's spec.tracing.samplingRate, nil when
// unset or not a number.
func TraceSampling(c *spec.DaprConfiguration) *float64 {
	if c == nil || c.Tracing == nil || c.Tracing.SamplingRate == "" {
		return nil
	}
	f, err := strconv.ParseFloat(c.Tracing.SamplingRate, 64)
	if err != nil {
		return nil
	}
	return &f
}

// APILogging is how a sidecar logs API calls: a Configuration's
// spec.logging.apiLogging, whose enabled is the default that the sidecar's
// own setting (daprd's --enable-api-logging, ACA's dapr.enableApiLogging)
// overrides when given.
func APILogging(c *spec.DaprConfiguration, own *bool) spec.APILoggingSpec {
	var out spec.APILoggingSpec
	if l := c.APILog(); l != nil {
		out = *l
	}
	if own != nil {
		out.Enabled = *own
	}
	return out
}

// MetricOptions is how an app's sidecars label their HTTP API's metrics
// under its Configuration's spec.metric.http, with daprd's defaults where
// it says nothing (the path label on).
func MetricOptions(c *spec.DaprConfiguration) metrics.HTTPOptions {
	o := metrics.HTTPOptions{IncreasedCardinality: true}
	if c == nil || c.Metric == nil || c.Metric.HTTP == nil {
		return o
	}
	h := c.Metric.HTTP
	if h.IncreasedCardinality != nil {
		o.IncreasedCardinality = *h.IncreasedCardinality
	}
	o.PathMatching, o.ExcludeVerbs = h.PathMatching, h.ExcludeVerbs
	return o
}
