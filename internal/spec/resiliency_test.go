package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const validResiliency = `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: myresiliency
scopes: [frontend]
spec:
  policies:
    timeouts:
      general: 5s
    retries:
      important:
        policy: constant
        duration: 100ms
        maxRetries: 3
        matching:
          httpStatusCodes: "429,500-599"
          gRPCStatusCodes: "1-4,8-11,13,14"
      backoff:
        policy: exponential
        initialInterval: 50ms
        multiplier: 2
        maxInterval: 1s
        maxRetries: -1
    circuitBreakers:
      simpleCB:
        maxRequests: 1
        timeout: 30s
        trip: consecutiveFailures >= 5
  targets:
    apps:
      backend:
        timeout: general
        retry: important
        circuitBreaker: simpleCB
    components:
      statestore:
        outbound:
          retry: backoff
    actors:
      Cart:
        timeout: general
        retry: important
        circuitBreaker: simpleCB
        circuitBreakerScope: both
        circuitBreakerCacheSize: 100
`

func TestParseResiliency(t *testing.T) {
	r, probs := ParseResiliency("res.yaml", []byte(y(validResiliency)))
	if probs.Err() != nil {
		t.Fatalf("valid file: %v", probs)
	}
	max3, maxInf, one := 3, -1, 1
	two := 2.0
	want := &Resiliency{
		Name: "myresiliency", File: "res.yaml", Scopes: []string{"frontend"},
		Spec: ResiliencySpec{
			Policies: ResiliencyPolicies{
				Timeouts: map[string]string{"general": "5s"},
				Retries: map[string]*RetryPolicySpec{
					"important": {Policy: "constant", Duration: "100ms", MaxRetries: &max3,
						Matching: &RetryMatching{HTTPStatusCodes: "429,500-599", GRPCStatusCodes: "1-4,8-11,13,14"}},
					"backoff": {Policy: "exponential", InitialInterval: "50ms", Multiplier: &two, MaxInterval: "1s", MaxRetries: &maxInf},
				},
				CircuitBreakers: map[string]*CircuitBreakerSpec{
					"simpleCB": {MaxRequests: &one, Timeout: "30s", Trip: "consecutiveFailures >= 5"},
				},
			},
			Targets: ResiliencyTargets{
				Apps:       map[string]*TargetPolicyNames{"backend": {Timeout: "general", Retry: "important", CircuitBreaker: "simpleCB"}},
				Components: map[string]*ComponentTargetPolicies{"statestore": {Outbound: &TargetPolicyNames{Retry: "backoff"}}},
				Actors: map[string]*ActorTargetPolicies{"Cart": {Timeout: "general", Retry: "important", CircuitBreaker: "simpleCB",
					CircuitBreakerScope: "both", CircuitBreakerCacheSize: 100}},
			},
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("resource (-want +got):\n%s", diff)
	}
}

func TestParseResiliencyProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "header",
			doc: `
apiVersion: dapr.io/v2
kind: Component
metadata: {}
spec: {}
`,
			want: []string{
				`1:1 apiVersion: "dapr.io/v2" is not dapr.io/v1alpha1`,
				`2:1 kind: not a Resiliency`,
				`3:1 metadata.name: required`,
			},
		},
		{
			name: "policies",
			doc: `
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    timeouts:
      slow: 5 seconds
      zero: 0s
    retries:
      wrong:
        policy: linear
      mixed:
        policy: constant
        multiplier: 2
        maxRetries: -2
      codes:
        matching:
          httpStatusCodes: "500-700"
          gRPCStatusCodes: "x"
    circuitBreakers:
      cb:
        trip: failures > 5
        maxRequests: 0
      notbool:
        trip: consecutiveFailures + 1
  targets:
    apps:
      backend:
        retry: importnt
        timeout: slow
    flights: {}
    actors:
      Cart:
        circuitBreaker: cb
      Order:
        circuitBreakerScope: replica
        timeout: slo
`,
			want: []string{
				`7:7 spec.policies.timeouts.slow: "5 seconds" is not a duration`,
				`8:7 spec.policies.timeouts.zero: must be above zero`,
				`11:9 spec.policies.retries.wrong.policy: "linear"`,
				`14:9 spec.policies.retries.mixed.multiplier: setting of the exponential policy`,
				`15:9 spec.policies.retries.mixed.maxRetries: -2 is not a number of retries`,
				`18:11 spec.policies.retries.codes.matching.httpStatusCodes: "500-700" is outside the valid codes 100-599`,
				`19:11 spec.policies.retries.codes.matching.gRPCStatusCodes: "x" is not a code`,
				`22:9 spec.policies.circuitBreakers.cb.trip: "failures > 5" is not a valid trip expression`,
				`23:9 spec.policies.circuitBreakers.cb.maxRequests: 0 lets no request through`,
				`25:9 spec.policies.circuitBreakers.notbool.trip: not true or false`,
				`29:9 spec.targets.apps.backend.retry: no retry policy named "importnt"`,
				`31:5 spec.targets.flights: unknown`,
				`33:7 spec.targets.actors.Cart.circuitBreakerScope: required with a circuit breaker: type, id or both`,
				`36:9 spec.targets.actors.Order.circuitBreakerScope: "replica" is not type, id or both`,
				`37:9 spec.targets.actors.Order.timeout: no timeout policy named "slo"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := ParseResiliency("r.yaml", []byte(y(tt.doc)))
			checkProblems(t, "problems", probs, tt.want)
		})
	}
}

func TestParseConfiguration(t *testing.T) {
	doc := `
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: appconfig
spec:
  tracing:
    samplingRate: "1"
  metric:
    enabled: true
    recordErrorCodes: true
    http:
      increasedCardinality: false
      pathMatching: ["/orders/{id}"]
  metrics:
    enabled: false
  logging:
    apiLogging:
      enabled: true
      obfuscateURLs: true
  accessControl:
    defaultAction: Deny
    trustDomain: public
    policies:
    - appId: frontend
      defaultAction: deny
      trustDomain: public
      namespace: default
      operations:
      - name: /api/*
        httpVerb: [get, POST]
        action: allow
`
	c, probs := ParseConfiguration("c.yaml", []byte(y(doc)))
	if probs.Err() != nil {
		t.Fatal(probs)
	}
	checkProblems(t, "warnings", probs, []string{`10:5 spec.metric.recordErrorCodes: cove does not apply`})
	// spec.metrics sets enabled over spec.metric's, as in Dapr.
	want := &DaprConfiguration{
		Name: "appconfig", File: "c.yaml", Tracing: &TracingSpec{SamplingRate: "1"},
		Metric: &MetricSpec{Enabled: new(false), HTTP: &MetricHTTPSpec{
			IncreasedCardinality: new(false), PathMatching: []string{"/orders/{id}"}}},
		Logging: &LoggingSpec{APILogging: &APILoggingSpec{Enabled: true, ObfuscateURLs: true}},
		AccessControl: &AccessControl{DefaultAction: "deny", TrustDomain: "public", Policies: []AccessPolicy{{
			AppID: "frontend", DefaultAction: "deny", TrustDomain: "public", Namespace: "default",
			Operations: []AccessOperation{{Name: "/api/*", HTTPVerb: []string{"GET", "POST"}, Action: "allow"}},
		}}},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("configuration (-want +got):\n%s", diff)
	}
}

func TestParseConfigurationProblems(t *testing.T) {
	doc := `
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: c}
spec:
  tracing:
    samplingRate: "2"
  accessControl:
    defaultAction: maybe
    policies:
    - appId: frontend
      operations:
      - name: /a
        httpVerb: [FETCH]
        action: permit
  logging:
    apiLogging: {enable: true}
  mystery: true
  metrics:
    http: {pathMatching: [orders]}
`
	_, probs := ParseConfiguration("c.yaml", []byte(y(doc)))
	checkProblems(t, "problems", probs, []string{
		`6:5 spec.tracing.samplingRate: "2" is not a rate between 0 and 1`,
		`8:5 spec.accessControl.defaultAction: "maybe"`,
		`10:7 spec.accessControl.policies[0].trustDomain: required`,
		`10:7 spec.accessControl.policies[0].namespace: required`,
		`13:20 spec.accessControl.policies[0].operations[0].httpVerb[0]: "FETCH" is not an HTTP verb`,
		`14:9 spec.accessControl.policies[0].operations[0].action: "permit"`,
		`16:18 spec.logging.apiLogging.enable: unknown field; did you mean "enabled"?`,
		`17:3 spec.mystery: unknown`,
		`19:27 spec.metrics.http.pathMatching[0]: "orders" is not a path pattern; write one such as /orders/{orderID}`,
	})
}

func TestParseConfigurationSecretScopes(t *testing.T) {
	doc := `
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: c}
spec:
  secrets:
    scopes:
    - storeName: vault
      defaultAccess: deny
      allowedSecrets: [api-key]
    - storeName: vault
      defaultAccess: maybe
    - defaultAccess: allow
`
	c, probs := ParseConfiguration("c.yaml", []byte(y(doc)))
	checkProblems(t, "problems", probs, []string{
		`10:7 spec.secrets.scopes[1].storeName: secret store "vault" already has a scope`,
		`11:7 spec.secrets.scopes[1].defaultAccess: "maybe" is not allow or deny`,
		`12:7 spec.secrets.scopes[2].storeName: required`,
	})
	if c != nil {
		t.Errorf("a Configuration with errors was returned: %+v", c)
	}
	ok := strings.SplitN(doc, "    - storeName: vault\n      defaultAccess: maybe", 2)[0]
	c, probs = ParseConfiguration("c.yaml", []byte(y(ok)))
	if probs.Err() != nil || c == nil || c.Secrets == nil || len(c.Secrets.Scopes) != 1 ||
		c.Secrets.Scopes[0].DefaultAccess != "deny" || c.Secrets.Scopes[0].AllowedSecrets[0] != "api-key" {
		t.Errorf("valid scopes: %+v, %v", c, probs)
	}
}

func TestLoadDaprResources(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"cove.yaml": y(`
resiliency:
  - file: res.yaml
configuration:
  file: config.yaml
apps:
  - file: front.yaml
    command: ./front
  - file: back.yaml
    command: ./back
    configuration: {file: back-config.yaml}
`),
		"front.yaml":       appYAML("frontend"),
		"back.yaml":        appYAML("backend"),
		"res.yaml":         y(validResiliency),
		"config.yaml":      "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: shared}\nspec: {}\n",
		"back-config.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: back}\nspec: {accessControl: {defaultAction: allow}}\n",
	})
	env, err := Load(filepath.Join(dir, "cove.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Resiliency) != 1 || env.Resiliency[0].Name != "myresiliency" {
		t.Errorf("resiliency = %+v", env.Resiliency)
	}
	got := map[string]string{}
	for _, a := range env.Apps {
		got[a.App.Name] = a.DaprConfig.Name
	}
	if diff := cmp.Diff(map[string]string{"frontend": "shared", "backend": "back"}, got); diff != "" {
		t.Errorf("configurations (-want +got):\n%s", diff)
	}
	// statestore is a component target, not an app: no warning for it.
	checkProblems(t, "warnings", env.Warnings, nil)

	if err := os.WriteFile(filepath.Join(dir, "cove.yaml"), []byte("resiliency:\n  - file: nope.yaml\napps:\n  - file: front.yaml\n    command: ./front\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(filepath.Join(dir, "cove.yaml"))
	probs, _ := err.(Problems)
	checkProblems(t, "errors", probs, []string{`2:5 resiliency[0].file: no such file`})
}

func appYAML(name string) string {
	return "name: " + name + "\nproperties:\n  configuration:\n    dapr:\n      enabled: true\n      appId: " + name +
		"\n  template:\n    containers:\n      - name: main\n        image: x\n"
}
