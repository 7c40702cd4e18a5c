package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DaprConfiguration is a Dapr Configuration resource (apiVersion
// dapr.io/v1alpha1, kind Configuration): what daprd reads from --config.
// cove applies its access control and tracing sampling; the other sections
// of Dapr's schema are accepted and reported as not applied.
type DaprConfiguration struct {
	Name          string         `json:"name"`
	File          string         `json:"file,omitempty"`
	Tracing       *TracingSpec   `json:"tracing,omitempty"`
	AccessControl *AccessControl `json:"accessControl,omitempty"`
	Secrets       *SecretsSpec   `json:"secrets,omitempty"`
	Logging       *LoggingSpec   `json:"logging,omitempty"`
	// Metric is spec.metric, with what spec.metrics sets (Dapr reads
	// both) in its place.
	Metric *MetricSpec `json:"metric,omitempty"`
	// NameResolution is spec.nameResolution, which only standalone
	// sidecars apply (cove up resolves app ids itself).
	NameResolution *NameResolutionSpec `json:"nameResolution,omitempty"`
}

// NameResolutionSpec is spec.nameResolution: the registry standalone
// sidecars find each other through.
type NameResolutionSpec struct {
	// Component is Dapr's short name ("sqlite"); the component type is
	// "nameresolution.<Component>".
	Component string `json:"component"`
	Version   string `json:"version,omitempty"`
	// Configuration is the component's metadata: values as written,
	// lists and mappings as JSON, as Dapr hands them to the component.
	Configuration map[string]string `json:"configuration,omitempty"`
}

// nameResolutionFile is spec.nameResolution as written.
type nameResolutionFile struct {
	Component     string                  `json:"component"`
	Version       string                  `json:"version"`
	Configuration map[string]dynamicValue `json:"configuration"`
}

// MetricSpec is spec.metric: whether the sidecar records metrics, and how
// it labels its HTTP API's.
type MetricSpec struct {
	// Enabled is true when unset.
	Enabled *bool           `json:"enabled,omitempty"`
	HTTP    *MetricHTTPSpec `json:"http,omitempty"`
	// Read past, with a warning.
	RecordErrorCodes           Ignored `json:"recordErrorCodes,omitempty"`
	LatencyDistributionBuckets Ignored `json:"latencyDistributionBuckets,omitempty"`
	Rules                      Ignored `json:"rules,omitempty"`
}

// MetricHTTPSpec is spec.metric.http.
type MetricHTTPSpec struct {
	// IncreasedCardinality labels calls with their path (daprd's default,
	// true when unset).
	IncreasedCardinality *bool `json:"increasedCardinality,omitempty"`
	// PathMatching are path patterns ("/orders/{id}") calls are labelled
	// with when they match.
	PathMatching []string `json:"pathMatching,omitempty"`
	ExcludeVerbs bool     `json:"excludeVerbs,omitempty"`
}

// MetricsEnabled reports whether spec.metric.enabled leaves metrics on.
func (c *DaprConfiguration) MetricsEnabled() bool {
	return c == nil || c.Metric == nil || c.Metric.Enabled == nil || *c.Metric.Enabled
}

// LoggingSpec is spec.logging.
type LoggingSpec struct {
	APILogging *APILoggingSpec `json:"apiLogging,omitempty"`
}

// APILoggingSpec is spec.logging.apiLogging: the default of daprd's
// --enable-api-logging, and how API calls are logged.
type APILoggingSpec struct {
	// Enabled turns API logging on unless the sidecar's own setting
	// (--enable-api-logging, ACA's dapr.enableApiLogging) says otherwise.
	Enabled bool `json:"enabled,omitempty"`
	// ObfuscateURLs logs HTTP routes instead of paths.
	ObfuscateURLs bool `json:"obfuscateURLs,omitempty"`
	// OmitHealthChecks leaves calls to the health endpoints out.
	OmitHealthChecks bool `json:"omitHealthChecks,omitempty"`
}

// APILog returns spec.logging.apiLogging, or nil when c has none.
func (c *DaprConfiguration) APILog() *APILoggingSpec {
	if c == nil || c.Logging == nil {
		return nil
	}
	return c.Logging.APILogging
}

// SecretsSpec is spec.secrets: which secrets of each secret store the app
// may read.
type SecretsSpec struct {
	Scopes []SecretScope `json:"scopes,omitempty"`
}

// SecretScope is one entry of spec.secrets.scopes.
type SecretScope struct {
	StoreName string `json:"storeName"`
	// DefaultAccess is "allow" (the default) or "deny".
	DefaultAccess  string   `json:"defaultAccess,omitempty"`
	AllowedSecrets []string `json:"allowedSecrets,omitempty"`
	DeniedSecrets  []string `json:"deniedSecrets,omitempty"`
}

// TracingSpec is spec.tracing.
type TracingSpec struct {
	// SamplingRate is a number from 0 to 1, written as a string as in Dapr;
	// "" means Dapr's default, 1.
	SamplingRate string  `json:"samplingRate,omitempty"`
	Stdout       bool    `json:"stdout,omitempty"`
	Zipkin       Ignored `json:"zipkin,omitempty"`
	Otel         Ignored `json:"otel,omitempty"`
}

// Sampling returns the sampling rate as a number.
func (t *TracingSpec) Sampling() float64 {
	if t == nil || t.SamplingRate == "" {
		return 1
	}
	f, err := strconv.ParseFloat(t.SamplingRate, 64)
	if err != nil {
		return 1
	}
	return f
}

// AccessControl is spec.accessControl: which callers may invoke which
// operations of the app the configuration belongs to.
type AccessControl struct {
	// DefaultAction is "allow" or "deny"; when empty Dapr denies if
	// policies are listed and allows otherwise.
	DefaultAction string `json:"defaultAction,omitempty"`
	// TrustDomain is the app's own trust domain, "public" by default.
	TrustDomain string         `json:"trustDomain,omitempty"`
	Policies    []AccessPolicy `json:"policies,omitempty"`
}

// AccessPolicy is the policy for one calling app.
type AccessPolicy struct {
	AppID         string            `json:"appId"`
	DefaultAction string            `json:"defaultAction,omitempty"`
	TrustDomain   string            `json:"trustDomain,omitempty"`
	Namespace     string            `json:"namespace,omitempty"`
	Operations    []AccessOperation `json:"operations,omitempty"`
}

// AccessOperation is an operation rule: a path glob ("/orders/*",
// "/admin/**"), the HTTP verbs it covers ("*" for all) and the action.
type AccessOperation struct {
	Name     string   `json:"name"`
	HTTPVerb []string `json:"httpVerb,omitempty"`
	Action   string   `json:"action"`
}

type configurationFile struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   objectMeta        `json:"metadata"`
	Spec       configurationSpec `json:"spec"`
	Scopes     []string          `json:"scopes"`
}

type configurationSpec struct {
	Tracing         *TracingSpec        `json:"tracing"`
	AccessControl   *AccessControl      `json:"accessControl"`
	Metric          *MetricSpec         `json:"metric"`
	Metrics         *MetricSpec         `json:"metrics"`
	HTTPPipeline    Ignored             `json:"httpPipeline"`
	AppHTTPPipeline Ignored             `json:"appHttpPipeline"`
	MTLS            Ignored             `json:"mtls"`
	Secrets         *SecretsSpec        `json:"secrets"`
	Components      Ignored             `json:"components"`
	Features        Ignored             `json:"features"`
	API             Ignored             `json:"api"`
	Logging         *LoggingSpec        `json:"logging"`
	NameResolution  *nameResolutionFile `json:"nameResolution"`
	WASM            Ignored             `json:"wasm"`
	Workflow        Ignored             `json:"workflow"`
}

// notApplied are the sections of a Configuration cove reads past.
var notApplied = []string{"httpPipeline", "appHttpPipeline", "mtls",
	"components", "features", "api", "nameResolution", "wasm", "workflow"}

var httpVerbs = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*"}

// ParseConfiguration parses and validates a Dapr Configuration file. It
// returns the resource when there are no errors; the Problems may still
// hold warnings.
func ParseConfiguration(file string, data []byte) (*DaprConfiguration, Problems) {
	c, d := parseConfiguration(file, data)
	probs := d.probs.sorted()
	if probs.Err() != nil {
		return nil, probs
	}
	return c, probs
}

func parseConfiguration(file string, data []byte) (*DaprConfiguration, *decoder) {
	d := newDecoder(file)
	root := d.parse(data)
	if root == nil {
		return nil, d
	}
	return parseConfigurationNode(d, root), d
}

// parseConfigurationNode decodes and validates the Configuration document
// root with d, the document's own decoder.
func parseConfigurationNode(d *decoder, root *yaml.Node) *DaprConfiguration {
	file := d.file
	var f configurationFile
	d.decodeDocument(root, &f)
	d.resourceHeader(f.APIVersion, f.Kind, "Configuration")
	c := &DaprConfiguration{Name: f.Metadata.Name, File: file, Tracing: f.Spec.Tracing, AccessControl: f.Spec.AccessControl, Secrets: f.Spec.Secrets,
		Logging: f.Spec.Logging}
	if nr := f.Spec.NameResolution; nr != nil {
		c.NameResolution = &NameResolutionSpec{Component: nr.Component, Version: nr.Version, Configuration: map[string]string{}}
		for k, v := range nr.Configuration {
			c.NameResolution.Configuration[k] = string(v)
		}
		if nr.Component == "" && !d.bad["spec.nameResolution"] {
			d.errorf("spec.nameResolution.component", "the name resolution component is required: sqlite, redis or postgresql")
		}
	}
	if c.Secrets != nil {
		seen := map[string]bool{}
		for i, sc := range c.Secrets.Scopes {
			path := fmt.Sprintf("spec.secrets.scopes[%d]", i)
			switch {
			case sc.StoreName == "":
				d.errorf(path+".storeName", "required: the secret store component this scope limits")
			case seen[sc.StoreName]:
				d.errorf(path+".storeName", "secret store %q already has a scope; give each store one entry", sc.StoreName)
			}
			seen[sc.StoreName] = true
			if a := strings.ToLower(sc.DefaultAccess); a != "" && a != "allow" && a != "deny" {
				d.errorf(path+".defaultAccess", "%q is not allow or deny", sc.DefaultAccess)
			}
		}
	}
	c.Metric = mergeMetrics(f.Spec.Metric, f.Spec.Metrics)
	for _, sec := range []string{"metric", "metrics"} {
		for _, field := range []string{"recordErrorCodes", "latencyDistributionBuckets", "rules"} {
			if path := "spec." + sec + "." + field; d.has(path) {
				d.warnf(path, "cove does not apply %s yet; it is read and ignored", path)
			}
		}
	}
	for sec, m := range map[string]*MetricSpec{"metric": f.Spec.Metric, "metrics": f.Spec.Metrics} {
		if m == nil || m.HTTP == nil {
			continue
		}
		for i, p := range m.HTTP.PathMatching {
			if !strings.HasPrefix(p, "/") {
				d.errorf(fmt.Sprintf("spec.%s.http.pathMatching[%d]", sec, i),
					"%q is not a path pattern; write one such as /orders/{orderID}", p)
			}
		}
	}
	d.requiredString("metadata.name", c.Name, "the resource's name")
	for _, s := range notApplied {
		if d.has("spec." + s) {
			d.warnf("spec."+s, "cove does not apply spec.%s yet; it is read and ignored", s)
		}
	}
	if d.has("scopes") {
		d.warnf("scopes", "a Configuration applies to the apps that name it; scopes are ignored")
	}
	if t := c.Tracing; t != nil {
		if t.SamplingRate != "" {
			if r, err := strconv.ParseFloat(t.SamplingRate, 64); err != nil || r < 0 || r > 1 {
				d.errorf("spec.tracing.samplingRate", "%q is not a rate between 0 and 1, such as \"1\" or \"0.1\"", t.SamplingRate)
			}
		}
		for _, s := range []string{"zipkin", "otel"} {
			if d.has("spec.tracing." + s) {
				d.warnf("spec.tracing."+s, "cove propagates trace context but exports no spans yet; spec.tracing.%s is ignored", s)
			}
		}
	}
	if ac := c.AccessControl; ac != nil {
		d.accessControl("spec.accessControl", ac)
	}
	return c
}

func (d *decoder) accessControl(path string, ac *AccessControl) {
	if ac.DefaultAction != "" {
		d.enum(path+".defaultAction", &ac.DefaultAction, "allow", "deny")
	}
	seen := d.uniqueNames("policy app")
	for i := range ac.Policies {
		pp := indexPath(path+".policies", i)
		p := &ac.Policies[i]
		if d.requiredString(pp+".appId", p.AppID, "the calling app's Dapr app id") {
			seen.add(pp+".appId", p.AppID+"||"+p.Namespace)
		}
		if p.DefaultAction != "" {
			d.enum(pp+".defaultAction", &p.DefaultAction, "allow", "deny")
		}
		// daprd rejects a policy without them; say which default to write.
		d.requiredString(pp+".trustDomain", p.TrustDomain, `the caller's trust domain, "public" unless its configuration sets another`)
		d.requiredString(pp+".namespace", p.Namespace, `the caller's namespace, "default" in cove`)
		for j := range p.Operations {
			op := &p.Operations[j]
			opp := indexPath(pp+".operations", j)
			if d.requiredString(opp+".name", op.Name, "the operation's path, e.g. /orders/* or /admin/**") && strings.ContainsAny(op.Name, "?[") {
				d.errorf(opp+".name", "%q: operation names take * (one segment) and ** (any number), not ? or [", op.Name)
			}
			if d.requiredString(opp+".action", op.Action, "allow or deny") {
				d.enum(opp+".action", &op.Action, "allow", "deny")
			}
			for k := range op.HTTPVerb {
				v := strings.ToUpper(op.HTTPVerb[k])
				op.HTTPVerb[k] = v
				if !slices.Contains(httpVerbs, v) {
					d.errorf(indexPath(opp+".httpVerb", k), "%q is not an HTTP verb (%s)", v, strings.Join(httpVerbs, ", "))
				}
			}
		}
	}
}

// mergeMetrics is spec.metric with what spec.metrics sets in its place, as
// Dapr reads the two.
func mergeMetrics(metric, metrics *MetricSpec) *MetricSpec {
	if metrics == nil {
		return metric
	}
	if metric == nil {
		return metrics
	}
	out := *metric
	if metrics.Enabled != nil {
		out.Enabled = metrics.Enabled
	}
	if metrics.HTTP != nil {
		out.HTTP = metrics.HTTP
	}
	return &out
}
