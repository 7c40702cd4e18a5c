package spec

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseComponentFormats(t *testing.T) {
	tests := []struct {
		name string
		file string
		want *Component
	}{
		{
			name: "ACA format with a secretRef and non-string values",
			file: "testdata/triage/components/statestore.yaml",
			want: &Component{
				Type: "state.redis", Version: "v1", Format: FormatACA,
				Metadata: []MetadataItem{
					{Name: "redisHost", Value: "localhost:6379"},
					{Name: "redisDB", Value: "3"},
					{Name: "enableTLS", Value: "false"},
					{Name: "redisPassword", SecretRef: "redis-password"},
				},
				Secrets: []ComponentSecret{{Name: "redis-password", Value: "s3cret"}},
				Scopes:  []string{"triage-backend"},
				File:    "testdata/triage/components/statestore.yaml", TypeLine: 2, TypeField: "componentType",
			},
		},
		{
			name: "Dapr format with envRef and an init timeout",
			file: "testdata/triage/components/pubsub.yaml",
			want: &Component{
				Name: "pubsub", Type: "pubsub.redis", Version: "v1", InitTimeout: "10s", Namespace: "default", Format: FormatDapr,
				Metadata: []MetadataItem{
					{Name: "redisHost", Value: "localhost:6379"},
					{Name: "consumerID", EnvRef: "HOSTNAME"},
				},
				Scopes: []string{"triage-backend", "triage-frontend"},
				File:   "testdata/triage/components/pubsub.yaml", TypeLine: 8, TypeField: "spec.type",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, probs := ParseComponent(tc.file, data)
			if got == nil || len(probs) > 0 {
				t.Fatalf("problems:\n%v", probs)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("component (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseComponentDaprRedis(t *testing.T) {
	// A Dapr CRD Redis state store as the Dapr docs write it, with a
	// secret from a secret store and the values Dapr allows unquoted.
	src := y(`
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  type: state.redis
  version: v1
  ignoreErrors: true
  metadata:
    - name: redisHost
      value: localhost:6379
    - name: redisDB
      value: 0
    - name: actorStateStore
      value: true
    - name: redisPassword
      secretKeyRef:
        name: redis
        key: password
    - name: routes
      value: {orders: 1, items: [a, b]}
auth:
  secretStore: localsecrets
`)
	got, probs := ParseComponent("statestore.yaml", []byte(src))
	if got == nil || len(probs) > 0 {
		t.Fatalf("problems:\n%v", probs)
	}
	want := &Component{
		Name: "statestore", Type: "state.redis", Version: "v1", IgnoreErrors: true, SecretStore: "localsecrets",
		Format: FormatDapr, File: "statestore.yaml", TypeLine: 8, TypeField: "spec.type",
		Metadata: []MetadataItem{
			{Name: "redisHost", Value: "localhost:6379"},
			{Name: "redisDB", Value: "0"},
			{Name: "actorStateStore", Value: "true"},
			{Name: "redisPassword", SecretRef: "redis", SecretKey: "password"},
			{Name: "routes", Value: `{"items":["a","b"],"orders":1}`},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("component (-want +got):\n%s", diff)
	}
	if got.Kind() != "state" || !got.InScope("anything") {
		t.Errorf("Kind() = %q, InScope = %v", got.Kind(), got.InScope("anything"))
	}
}

func TestParseComponentServiceBind(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{name: "a single binding, as the CLI writes it", src: "componentType: state.redis\nversion: v1\nserviceComponentBind: {name: redis, serviceId: /sub/redis}\n"},
		{name: "a list of bindings", src: "componentType: state.redis\nversion: v1\nserviceComponentBind:\n  - {name: redis, serviceId: /sub/redis}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, probs := ParseComponent("c.yaml", []byte(tc.src))
			if got == nil || len(probs) > 0 {
				t.Fatalf("problems:\n%v", probs)
			}
			want := []ComponentServiceBind{{Name: "redis", ServiceID: "/sub/redis"}}
			if diff := cmp.Diff(want, got.ServiceBinds); diff != "" {
				t.Errorf("service binds (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseComponentRules(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		errors   []string
		warnings []string
	}{
		{
			name: "ACA: secretRef must name a declared secret",
			yaml: y(`
componentType: state.redis
version: v1
secrets:
  - name: redis-password
    value: s3cret
metadata:
  - name: redisPassword
    secretRef: redis-pasword
`),
			errors: []string{`8:5 metadata[0].secretRef: secret "redis-pasword" is not declared in secrets (and no secretStoreComponent is set); did you mean "redis-password"?`},
		},
		{
			name: "ACA: a secret store makes secretRef name its secrets",
			yaml: "componentType: state.redis\nversion: v1\nsecretStoreComponent: vault\nmetadata: [{name: redisPassword, secretRef: redis}]\n",
		},
		{
			name: "ACA: value or secretRef, exactly one",
			yaml: y(`
componentType: state.redis
version: v1
metadata:
  - {name: a, value: x, secretRef: y}
  - {name: b}
  - {name: a, value: z}
`),
			errors: []string{
				"4:5 metadata[0]: set either value or secretRef, not both",
				"5:5 metadata[1]: required: value, or secretRef",
				`6:6 metadata[2].name: metadata "a" is already used at line 4`,
			},
		},
		{
			name: "ACA: type, version and timeout",
			yaml: "componentType: stat.redis\nversion: 1\ninitTimeout: 5 seconds\n",
			errors: []string{
				`1:1 componentType: "stat" is not a Dapr component kind (bindings, configuration, conversation, crypto, lock, middleware, nameresolution, pubsub, secretstores, state, workflowbackend); did you mean "state"?`,
				`2:1 version: "1" is not a component version; versions look like v1 or v2`,
				`3:1 initTimeout: "5 seconds" is not a duration; write it like 5s or 1m`,
			},
		},
		{
			name:   "ACA: type and version are required",
			yaml:   "scopes: [a]\n",
			errors: []string{"1:1 componentType: required: the Dapr component type", "1:1 version: required: the component version"},
		},
		{
			name:   "ACA: a type needs a kind and a name",
			yaml:   "componentType: redis\nversion: v1\n",
			errors: []string{`1:1 componentType: "redis" is not a component type; types are <kind>.<name>, e.g. state.redis`},
		},
		{
			name:   "ACA: unknown fields",
			yaml:   "componentType: state.redis\nversion: v1\nscope: [a]\n",
			errors: []string{`3:1 scope: unknown field; did you mean "scopes"?`},
		},
		{
			name: "ACA: Key Vault secrets cannot be read locally; repeated scopes",
			yaml: y(`
componentType: state.redis
version: v1
secrets:
  - {name: pw, keyVaultUrl: "https://kv.vault.azure.net/secrets/pw"}
scopes: [api, api]
`),
			warnings: []string{
				"4:16 secrets[0].keyVaultUrl: cove cannot read Azure Key Vault",
				`5:15 scopes[1]: app id "api" is listed twice`,
			},
		},
		{
			name:   "Dapr: apiVersion and kind",
			yaml:   "apiVersion: dapr.io/v2\nkind: Subscription\nmetadata: {name: s}\nspec: {type: pubsub.redis, version: v1}\n",
			errors: []string{`1:1 apiVersion: "dapr.io/v2" is not dapr.io/v1alpha1`, "2:1 kind: this file holds a Dapr Subscription, not a Component"},
		},
		{
			name: "Dapr: name, secretKeyRef without a store, one value source",
			yaml: y(`
apiVersion: dapr.io/v1alpha1
kind: Component
spec:
  type: state.redis
  version: v1
  metadata:
    - name: redisPassword
      secretKeyRef: {name: redis}
    - name: redisHost
      value: localhost
      envRef: REDIS_HOST
`),
			errors: []string{
				"1:1 metadata.name: required: the component's name",
				"8:7 spec.metadata[0].secretKeyRef: secretKeyRef needs auth.secretStore",
				"9:7 spec.metadata[1]: set exactly one of value, secretKeyRef and envRef",
			},
		},
		{
			name:   "Dapr: unknown fields in spec",
			yaml:   "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec: {type: state.redis, version: v1, metdata: []}\n",
			errors: []string{`4:40 spec.metdata: unknown field; did you mean "metadata"?`},
		},
		{
			name:   "Dapr: a component name with a slash",
			yaml:   "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: a/b}\nspec: {type: state.redis, version: v1}\n",
			errors: []string{`3:12 metadata.name: "a/b" is not a valid component name`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, probs := ParseComponent("c.yaml", []byte(tc.yaml))
			checkProblems(t, "errors", probs.Errors(), tc.errors)
			checkProblems(t, "warnings", probs.Warnings(), tc.warnings)
			if (c == nil) != (len(tc.errors) > 0) {
				t.Errorf("component returned = %v with %d errors", c != nil, len(tc.errors))
			}
		})
	}
}
