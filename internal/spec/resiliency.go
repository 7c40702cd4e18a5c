package spec

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// Resiliency is a Dapr Resiliency resource (apiVersion dapr.io/v1alpha1,
// kind Resiliency): named policies and the targets they apply to. The
// sidecars of the apps in Scopes (every app when empty) apply it to their
// outbound calls, as daprd does.
type Resiliency struct {
	Name   string         `json:"name"`
	File   string         `json:"file,omitempty"`
	Scopes []string       `json:"scopes,omitempty"`
	Spec   ResiliencySpec `json:"spec"`
}

// ResiliencySpec is the resource's spec.
type ResiliencySpec struct {
	Policies ResiliencyPolicies `json:"policies"`
	Targets  ResiliencyTargets  `json:"targets"`
}

// ResiliencyPolicies are the named policies targets refer to.
type ResiliencyPolicies struct {
	// Timeouts map a name to a duration ("5s").
	Timeouts        map[string]string              `json:"timeouts,omitempty"`
	Retries         map[string]*RetryPolicySpec    `json:"retries,omitempty"`
	CircuitBreakers map[string]*CircuitBreakerSpec `json:"circuitBreakers,omitempty"`
}

// RetryPolicySpec is a named retry policy; durations are as written.
type RetryPolicySpec struct {
	// Policy is "constant" (the default) or "exponential".
	Policy              string   `json:"policy,omitempty"`
	Duration            string   `json:"duration,omitempty"`
	InitialInterval     string   `json:"initialInterval,omitempty"`
	RandomizationFactor *float64 `json:"randomizationFactor,omitempty"`
	Multiplier          *float64 `json:"multiplier,omitempty"`
	MaxInterval         string   `json:"maxInterval,omitempty"`
	MaxElapsedTime      string   `json:"maxElapsedTime,omitempty"`
	// MaxRetries nil means Dapr's default, -1: without limit.
	MaxRetries *int           `json:"maxRetries,omitempty"`
	Matching   *RetryMatching `json:"matching,omitempty"`
}

// RetryMatching says which failures a retry policy retries: comma
// separated codes and ranges, "429,500-599".
type RetryMatching struct {
	HTTPStatusCodes string `json:"httpStatusCodes,omitempty"`
	GRPCStatusCodes string `json:"gRPCStatusCodes,omitempty"`
}

// CircuitBreakerSpec is a named circuit breaker.
type CircuitBreakerSpec struct {
	MaxRequests *int   `json:"maxRequests,omitempty"`
	Interval    string `json:"interval,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
	// Trip is a CEL expression over the breaker's counts.
	Trip string `json:"trip,omitempty"`
}

// ResiliencyTargets say which policies apply to what.
type ResiliencyTargets struct {
	// Apps are service invocation targets by Dapr app id.
	Apps map[string]*TargetPolicyNames `json:"apps,omitempty"`
	// Actors are actor method calls by actor type.
	Actors map[string]*ActorTargetPolicies `json:"actors,omitempty"`
	// Components: outbound policies apply to calls to state stores and
	// publishes; inbound ones to pub/sub deliveries to the app.
	Components map[string]*ComponentTargetPolicies `json:"components,omitempty"`
}

// TargetPolicyNames name the policies applying to one target.
type TargetPolicyNames struct {
	Timeout                 string `json:"timeout,omitempty"`
	Retry                   string `json:"retry,omitempty"`
	CircuitBreaker          string `json:"circuitBreaker,omitempty"`
	CircuitBreakerCacheSize int    `json:"circuitBreakerCacheSize,omitempty"`
}

// ActorTargetPolicies name the policies applying to calls of one actor
// type's methods.
type ActorTargetPolicies struct {
	Timeout        string `json:"timeout,omitempty"`
	Retry          string `json:"retry,omitempty"`
	CircuitBreaker string `json:"circuitBreaker,omitempty"`
	// CircuitBreakerScope is "type" (one breaker for the type), "id" (one
	// per actor) or "both"; required with a circuit breaker, as in Dapr.
	CircuitBreakerScope     string `json:"circuitBreakerScope,omitempty"`
	CircuitBreakerCacheSize int    `json:"circuitBreakerCacheSize,omitempty"`
}

// Actor circuit breaker scopes.
const (
	ActorScopeType = "type"
	ActorScopeID   = "id"
	ActorScopeBoth = "both"
)

// ComponentTargetPolicies are a component's policies by direction.
type ComponentTargetPolicies struct {
	Outbound *TargetPolicyNames `json:"outbound,omitempty"`
	Inbound  *TargetPolicyNames `json:"inbound,omitempty"`
}

// InScope reports whether the sidecar of appID loads this resource.
func (r *Resiliency) InScope(appID string) bool {
	return len(r.Scopes) == 0 || slices.Contains(r.Scopes, appID)
}

// Dapr's built-in policy names: a target without its own policy of a kind
// uses DefaultApp<Kind>Policy, else Default<Kind>Policy, when defined.
const (
	DefaultRetryPolicy             = "DefaultRetryPolicy"
	DefaultTimeoutPolicy           = "DefaultTimeoutPolicy"
	DefaultCircuitBreakerPolicy    = "DefaultCircuitBreakerPolicy"
	DefaultAppRetryPolicy          = "DefaultAppRetryPolicy"
	DefaultAppTimeoutPolicy        = "DefaultAppTimeoutPolicy"
	DefaultAppCircuitBreakerPolicy = "DefaultAppCircuitBreakerPolicy"
)

// resiliencyFile is the YAML shape of the resource.
type resiliencyFile struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   objectMeta     `json:"metadata"`
	Spec       ResiliencySpec `json:"spec"`
	Scopes     []string       `json:"scopes"`
}

// ParseResiliency parses and validates a Dapr Resiliency file. It returns
// the resource when there are no errors; the Problems may still hold
// warnings.
func ParseResiliency(file string, data []byte) (*Resiliency, Problems) {
	d := parseResiliency(file, data)
	probs := d.d.probs.sorted()
	if probs.Err() != nil {
		return nil, probs
	}
	return d.res, probs
}

type resiliencyParse struct {
	res *Resiliency
	d   *decoder
}

func parseResiliency(file string, data []byte) *resiliencyParse {
	d := newDecoder(file)
	root := d.parse(data)
	if root == nil {
		return &resiliencyParse{d: d}
	}
	return parseResiliencyNode(d, root)
}

// parseResiliencyNode decodes and validates the Resiliency document root
// with d, the document's own decoder.
func parseResiliencyNode(d *decoder, root *yaml.Node) *resiliencyParse {
	p := &resiliencyParse{d: d}
	file := d.file
	var f resiliencyFile
	d.decodeDocument(root, &f)
	d.resourceHeader(f.APIVersion, f.Kind, "Resiliency")
	r := &Resiliency{Name: f.Metadata.Name, File: file, Scopes: f.Scopes, Spec: f.Spec}
	d.requiredString("metadata.name", r.Name, "the resource's name")
	pol := &r.Spec.Policies
	for _, name := range sortedKeys(pol.Timeouts) {
		d.duration(fieldPath("spec.policies.timeouts", name), pol.Timeouts[name], true)
	}
	for _, name := range sortedKeys(pol.Retries) {
		d.retryPolicy(fieldPath("spec.policies.retries", name), pol.Retries[name])
	}
	for _, name := range sortedKeys(pol.CircuitBreakers) {
		d.circuitBreaker(fieldPath("spec.policies.circuitBreakers", name), pol.CircuitBreakers[name])
	}
	for _, id := range sortedKeys(r.Spec.Targets.Apps) {
		d.targetNames(fieldPath("spec.targets.apps", id), r.Spec.Targets.Apps[id], pol)
	}
	for _, name := range sortedKeys(r.Spec.Targets.Components) {
		cp := fieldPath("spec.targets.components", name)
		if c := r.Spec.Targets.Components[name]; c != nil {
			d.targetNames(cp+".outbound", c.Outbound, pol)
			d.targetNames(cp+".inbound", c.Inbound, pol)
		}
	}
	for _, typ := range sortedKeys(r.Spec.Targets.Actors) {
		ap := fieldPath("spec.targets.actors", typ)
		a := r.Spec.Targets.Actors[typ]
		if a == nil {
			continue
		}
		d.targetNames(ap, &TargetPolicyNames{Timeout: a.Timeout, Retry: a.Retry, CircuitBreaker: a.CircuitBreaker,
			CircuitBreakerCacheSize: a.CircuitBreakerCacheSize}, pol)
		switch a.CircuitBreakerScope {
		case ActorScopeType, ActorScopeID, ActorScopeBoth:
		case "":
			if a.CircuitBreaker != "" {
				d.errorf(ap+".circuitBreakerScope", "required with a circuit breaker: type, id or both")
			}
		default:
			d.errorf(ap+".circuitBreakerScope", "%q is not type, id or both", a.CircuitBreakerScope)
		}
	}
	for i, s := range r.Scopes {
		if s == "" {
			d.errorf(indexPath("scopes", i), "required: a Dapr app id")
		}
	}
	p.res = r
	return p
}

// resourceHeader checks apiVersion and kind of a Dapr resource.
func (d *decoder) resourceHeader(apiVersion, kind, want string) {
	if apiVersion != "dapr.io/v1alpha1" && d.requiredString("apiVersion", apiVersion, "dapr.io/v1alpha1") {
		d.errorf("apiVersion", "%q is not dapr.io/v1alpha1", apiVersion)
	}
	if kind != want && d.requiredString("kind", kind, want) {
		d.errorf("kind", "this file holds a Dapr %s, not a %s", kind, want)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// duration checks a Go duration such as 5s or 1m30s; positive says zero is
// not allowed.
func (d *decoder) duration(path, s string, positive bool) {
	if s == "" {
		if positive {
			d.errorf(path, "required: a duration such as 5s or 1m")
		}
		return
	}
	t, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.errorf(path, "%q is not a duration; write it like 500ms, 5s or 1m", s)
	case t < 0 || (positive && t == 0):
		d.errorf(path, "%q must be above zero", s)
	}
}

func (d *decoder) retryPolicy(path string, r *RetryPolicySpec) {
	if r == nil {
		d.errorf(path, "required: policy (constant or exponential) and its settings")
		return
	}
	if r.Policy == "" {
		r.Policy = "constant"
	} else {
		d.enum(path+".policy", &r.Policy, "constant", "exponential")
	}
	d.duration(path+".duration", r.Duration, false)
	d.duration(path+".initialInterval", r.InitialInterval, false)
	d.duration(path+".maxInterval", r.MaxInterval, false)
	d.duration(path+".maxElapsedTime", r.MaxElapsedTime, false)
	if r.Policy == "constant" {
		for _, f := range []string{"initialInterval", "randomizationFactor", "multiplier", "maxInterval", "maxElapsedTime"} {
			if d.has(path + "." + f) {
				d.errorf(path+"."+f, "%s is a setting of the exponential policy; this one is constant (set policy: exponential, or use duration)", f)
			}
		}
	} else if d.has(path + ".duration") {
		d.errorf(path+".duration", "duration is the constant policy's interval; the exponential policy uses initialInterval, multiplier and maxInterval")
	}
	if f := r.RandomizationFactor; f != nil && (*f < 0 || *f > 1) {
		d.errorf(path+".randomizationFactor", "%v is not between 0 and 1", *f)
	}
	if m := r.Multiplier; m != nil && *m < 1 {
		d.errorf(path+".multiplier", "%v is below 1; intervals would shrink", *m)
	}
	if n := r.MaxRetries; n != nil && *n < -1 {
		d.errorf(path+".maxRetries", "%d is not a number of retries; use -1 for no limit", *n)
	}
	if m := r.Matching; m != nil {
		d.codePattern(path+".matching.httpStatusCodes", m.HTTPStatusCodes, 100, 599)
		d.codePattern(path+".matching.gRPCStatusCodes", m.GRPCStatusCodes, 0, 16)
	}
}

var codeRangeRE = regexp.MustCompile(`^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$`)

// codePattern checks a matching list such as "429,500-599" against the
// valid codes lo..hi.
func (d *decoder) codePattern(path, s string, lo, hi int) {
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := codeRangeRE.FindStringSubmatch(part)
		if m == nil {
			d.errorf(path, "%q is not a code or a range of codes such as %d-%d", strings.TrimSpace(part), lo, hi)
			return
		}
		from, _ := strconv.Atoi(m[1])
		to := from
		if m[2] != "" {
			to, _ = strconv.Atoi(m[2])
		}
		switch {
		case from < lo || from > hi || to < lo || to > hi:
			d.errorf(path, "%q is outside the valid codes %d-%d", strings.TrimSpace(part), lo, hi)
			return
		case to < from:
			d.errorf(path, "%q starts after it ends", strings.TrimSpace(part))
			return
		}
	}
}

// tripVariables are the counts a trip expression may read.
var tripVariables = []string{"requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses", "consecutiveFailures"}

func (d *decoder) circuitBreaker(path string, c *CircuitBreakerSpec) {
	if c == nil {
		d.errorf(path, "required: trip, timeout and the breaker's other settings")
		return
	}
	d.duration(path+".interval", c.Interval, false)
	d.duration(path+".timeout", c.Timeout, false)
	if n := c.MaxRequests; n != nil && *n < 1 {
		d.errorf(path+".maxRequests", "%d lets no request through while half-open; use 1 or more", *n)
	}
	if c.Trip == "" {
		return // Dapr's default, consecutiveFailures > 5
	}
	if msg := tripProblem(c.Trip); msg != "" {
		d.errorf(path+".trip", "%s", msg)
	}
}

// tripProblem compiles a trip expression as the runtime will and says what
// is wrong with it, or returns "".
func tripProblem(expr string) string {
	opts := make([]cel.EnvOption, 0, len(tripVariables))
	for _, v := range tripVariables {
		opts = append(opts, cel.Variable(v, cel.IntType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return err.Error()
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return fmt.Sprintf("%q is not a valid trip expression (%s); it reads %s, e.g. consecutiveFailures > 5",
			expr, strings.ReplaceAll(iss.Err().Error(), "\n", " "), strings.Join(tripVariables, ", "))
	}
	if ast.OutputType() != cel.BoolType {
		return fmt.Sprintf("%q yields %s, not true or false; compare the counts, e.g. consecutiveFailures > 5", expr, ast.OutputType())
	}
	return ""
}

// targetNames checks that a target's policy names are defined.
func (d *decoder) targetNames(path string, t *TargetPolicyNames, pol *ResiliencyPolicies) {
	if t == nil {
		return
	}
	check := func(field, name, kind string, defined []string) {
		if name == "" || slices.Contains(defined, name) {
			return
		}
		msg := fmt.Sprintf("no %s policy named %q in spec.policies", kind, name)
		if s := suggest(name, defined); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		d.errorf(path+"."+field, "%s", msg)
	}
	check("timeout", t.Timeout, "timeout", sortedKeys(pol.Timeouts))
	check("retry", t.Retry, "retry", sortedKeys(pol.Retries))
	check("circuitBreaker", t.CircuitBreaker, "circuit breaker", sortedKeys(pol.CircuitBreakers))
	if t.CircuitBreakerCacheSize < 0 {
		d.errorf(path+".circuitBreakerCacheSize", "must not be negative")
	}
}
