package spec

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseContainerAppRules(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		errors   []string // "line:col path: message fragment"
		warnings []string
	}{
		{
			name: "minimal valid app",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
  template:
    containers:
      - name: app
        image: app:latest
`),
		},
		{
			name: "unknown field suggests the closest name",
			yaml: y(`
name: app
properties:
  template:
    containers:
      - name: app
        imagee: app:latest
`),
			errors: []string{
				"5:9 properties.template.containers[0].image: required: the container image",
				`6:9 properties.template.containers[0].imagee: unknown field; did you mean "image"?`,
			},
		},
		{
			name: "invalid enum value lists the allowed ones",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
      transport: htpp
  template:
    containers:
      - {name: app, image: app:latest}
`),
			errors: []string{`6:7 properties.configuration.ingress.transport: "htpp" is not one of auto, http, http2, tcp`},
		},
		{
			name: "wrong types",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      external: yes
      targetPort: "8080"
  template:
    containers: app
`),
			errors: []string{
				`5:17 properties.configuration.ingress.external: expected true or false, got string "yes"; use true or false`,
				`6:19 properties.configuration.ingress.targetPort: expected an integer, got string "8080"; write the number without quotes`,
				`8:17 properties.template.containers: expected a list, got string "app"`,
			},
		},
		{
			name: "app name with capitals",
			yaml: "name: Triage_Backend\ntemplate:\n  containers: [{name: app, image: app}]\n",
			errors: []string{
				`1:1 name: "Triage_Backend" is not a valid container app name: use 2 to 32 lowercase letters`,
			},
		},
		{
			name:   "app name missing",
			yaml:   "template:\n  containers: [{name: app, image: app}]\n",
			errors: []string{"1:1 name: required: the container app's name"},
		},
		{
			name:   "not a container app",
			yaml:   "name: app\ntype: Microsoft.App/jobs\ntemplate:\n  containers: [{name: app, image: app}]\n",
			errors: []string{`2:1 type: "Microsoft.App/jobs" is not Microsoft.App/containerApps`},
		},
		{
			name: "configuration both at the top and under properties",
			yaml: y(`
name: app
configuration:
  activeRevisionsMode: Single
properties:
  configuration:
    activeRevisionsMode: Multiple
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{"2:1 configuration: configuration is also set under properties; keep one of the two"},
		},
		{
			name: "problems in top-level configuration carry its path",
			yaml: y(`
name: app
configuration:
  activeRevisionsMode: single
  ingress:
    targetPort: 0
template:
  containers: [{name: app, image: app}]
`),
			errors: []string{"5:5 configuration.ingress.targetPort: 0 is not a port number (1-65535)"},
		},
		{
			name: "dapr app id with a dot, bad protocol, bad sizes",
			yaml: y(`
name: app
properties:
  configuration:
    dapr:
      enabled: true
      appId: my.app
      appPort: 8080
      appProtocol: https
      httpMaxRequestSize: 0
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{
				`6:7 properties.configuration.dapr.appId: "my.app" is not a valid Dapr app id: it cannot contain '.'`,
				`8:7 properties.configuration.dapr.appProtocol: "https" is not one of http, grpc`,
				"9:7 properties.configuration.dapr.httpMaxRequestSize: 0 is not a size in MB",
			},
		},
		{
			name: "dapr without appPort on an app with ingress warns",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8000
    dapr:
      enabled: true
  template:
    containers: [{name: app, image: app}]
`),
			warnings: []string{"6:5 properties.configuration.dapr.appPort: not set, so Dapr cannot call the app (service invocation, pub/sub delivery, input bindings); set appPort (the ingress targetPort is 8000)"},
		},
		{
			name: "dapr without appPort and without ingress is a client only",
			yaml: "name: app\nconfiguration:\n  dapr: {enabled: true}\ntemplate:\n  containers: [{name: app, image: app}]\n",
		},
		{
			name: "ingress needs a targetPort",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      external: true
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{"4:5 properties.configuration.ingress.targetPort: required: the port the app listens on"},
		},
		{
			name: "exposedPort only with tcp, never 80 or 443",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 5432
      exposedPort: 5432
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{"6:7 properties.configuration.ingress.exposedPort: exposedPort is only used with transport: tcp"},
		},
		{
			name: "tcp exposed on 443 and on the health check port",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      transport: tcp
      targetPort: 5432
      exposedPort: 443
      additionalPortMappings:
        - {external: true, targetPort: 9000, exposedPort: 36985}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{
				"7:7 properties.configuration.ingress.exposedPort: 443 is reserved for HTTP ingress",
				"9:46 properties.configuration.ingress.additionalPortMappings[0].exposedPort: 36985 is reserved by ACA for health checks",
			},
		},
		{
			name: "at most five additional ports, each with external and a unique target",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
      additionalPortMappings:
        - {external: false, targetPort: 9001}
        - {external: false, targetPort: 9002}
        - {external: false, targetPort: 9003}
        - {external: false, targetPort: 9004}
        - {external: false, targetPort: 8080}
        - {targetPort: 9006}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{
				"6:7 properties.configuration.ingress.additionalPortMappings: 6 additional ports; ACA allows at most 5",
				"11:29 properties.configuration.ingress.additionalPortMappings[4].targetPort: port 8080 is already mapped at line 5",
				"12:11 properties.configuration.ingress.additionalPortMappings[5].external: required: true to expose the port",
			},
		},
		{
			name: "ip restrictions must agree and be IPv4 CIDRs",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
      ipSecurityRestrictions:
        - {name: office, ipAddressRange: 203.0.113.0/24, action: Allow}
        - {name: home, ipAddressRange: 198.51.100.7, action: allow}
        - {name: v6, ipAddressRange: "2001:db8::/32", action: Deny}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{
				`8:24 properties.configuration.ingress.ipSecurityRestrictions[1].ipAddressRange: "198.51.100.7" is an address, not a CIDR range; write "198.51.100.7/32"`,
				`9:22 properties.configuration.ingress.ipSecurityRestrictions[2].ipAddressRange: "2001:db8::/32" is not an IPv4 range`,
				"9:55 properties.configuration.ingress.ipSecurityRestrictions[2].action: Deny mixes with Allow at line 7; all rules of an app must be Allow or all Deny",
			},
		},
		{
			name: "traffic weights add up to 100 in Multiple mode",
			yaml: y(`
name: app
properties:
  configuration:
    activeRevisionsMode: multiple
    ingress:
      targetPort: 8080
      traffic:
        - {revisionName: app--v1, weight: 80, label: stable}
        - {latestRevision: true, weight: 10, label: stable}
        - {revisionName: other--v2, weight: 0}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{
				"7:7 properties.configuration.ingress.traffic: weights add up to 90; they must add up to 100",
				`9:46 properties.configuration.ingress.traffic[1].label: label "stable" is already used at line 8`,
				`10:12 properties.configuration.ingress.traffic[2].revisionName: "other--v2" is not a revision of app`,
			},
		},
		{
			name: "Single mode cannot split traffic",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
      traffic:
        - {revisionName: app--v1, weight: 50}
        - {latestRevision: true, weight: 50}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{"7:11 properties.configuration.ingress.traffic[0]: activeRevisionsMode Single sends all traffic to the latest revision"},
		},
		{
			name: "sticky sessions, client certificates and CORS",
			yaml: y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
      stickySessions: {affinity: always}
      clientCertificateMode: Require
      corsPolicy: {maxAge: -1}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{
				`6:24 properties.configuration.ingress.stickySessions.affinity: "always" is not one of sticky, none`,
				"8:7 properties.configuration.ingress.corsPolicy.allowedOrigins: required: the origins allowed to call the app",
				"8:20 properties.configuration.ingress.corsPolicy.maxAge: -1 is negative",
			},
		},
		{
			name: "targetPortHttpScheme is http or https, for HTTP apps",
			yaml: y(`
name: app
properties:
  configuration:
    ingress: {targetPort: 8443, targetPortHttpScheme: tls}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{`4:33 properties.configuration.ingress.targetPortHttpScheme: "tls" is not one of http, https`},
		},
		{
			name: "targetPortHttpScheme with tcp",
			yaml: y(`
name: app
properties:
  configuration:
    ingress: {targetPort: 5432, transport: tcp, targetPortHttpScheme: https}
  template:
    containers: [{name: app, image: app}]
`),
			errors: []string{"4:49 properties.configuration.ingress.targetPortHttpScheme: targetPortHttpScheme is for HTTP apps"},
		},
		{
			name: "template needs a container",
			yaml: "name: app\nproperties:\n  template:\n    revisionSuffix: V1\n",
			errors: []string{
				"3:3 properties.template.containers: required: at least one container",
				`4:5 properties.template.revisionSuffix: "V1" is not a valid revision suffix`,
			},
		},
		{
			name: "container names are unique and well formed",
			yaml: y(`
name: app
template:
  initContainers:
    - {name: setup, image: busybox}
  containers:
    - {name: setup, image: app}
    - {name: Side_Car, image: sidecar}
`),
			errors: []string{
				`6:8 template.containers[0].name: container "setup" is already used at line 4`,
				`7:8 template.containers[1].name: "Side_Car" is not a valid container name`,
			},
		},
		{
			name: "env entries take exactly one of value and secretRef, naming a declared secret",
			yaml: y(`
name: app
configuration:
  secrets:
    - {name: db-password, value: s3cret}
template:
  containers:
    - name: app
      image: app
      env:
        - {name: A, value: x, secretRef: db-password}
        - {name: B}
        - {name: C, secretRef: db-pasword}
        - {name: A, value: ""}
`),
			errors: []string{
				"10:11 template.containers[0].env[0]: set either value or secretRef, not both",
				"11:11 template.containers[0].env[1]: required: value, or secretRef",
				`12:21 template.containers[0].env[2].secretRef: secret "db-pasword" is not declared in configuration.secrets; did you mean "db-password"?`,
				`13:12 template.containers[0].env[3].name: env var "A" is already used at line 10`,
			},
		},
		{
			name: "secrets: value or Key Vault, valid names",
			yaml: y(`
name: app
configuration:
  secrets:
    - {name: DB_Password, value: x}
    - {name: both, value: x, keyVaultUrl: "https://kv.vault.azure.net/secrets/x"}
    - {name: plain, keyVaultUrl: "http://kv.vault.azure.net/secrets/x"}
    - {name: lonely, identity: system}
template:
  containers: [{name: app, image: app}]
`),
			errors: []string{
				`4:8 configuration.secrets[0].name: "DB_Password" is not a valid secret name`,
				"5:7 configuration.secrets[1]: set either value or keyVaultUrl, not both",
				`6:21 configuration.secrets[2].keyVaultUrl: "http://kv.vault.azure.net/secrets/x" is not an https URL`,
				"7:22 configuration.secrets[3].identity: identity is only used with keyVaultUrl",
			},
		},
		{
			name: "registry password names a secret",
			yaml: y(`
name: app
configuration:
  registries:
    - {server: myacr.azurecr.io, username: me, passwordSecretRef: acr-pass}
template:
  containers: [{name: app, image: app}]
`),
			errors: []string{`4:48 configuration.registries[0].passwordSecretRef: secret "acr-pass" is not declared in configuration.secrets`},
		},
		{
			name: "probes: unique types, one action, ACA's bounds",
			yaml: y(`
name: app
template:
  containers:
    - name: app
      image: app
      probes:
        - type: liveness
          httpGet: {path: health, port: 8080}
          successThreshold: 3
        - type: Liveness
          tcpSocket: {port: 8080}
          periodSeconds: 0
        - type: Readiness
        - type: Startup
          httpGet: {port: 8080, scheme: ftp}
          tcpSocket: {port: 8080}
        - type: Ready
          tcpSocket: {port: 99999}
`),
			errors: []string{
				`8:21 template.containers[0].probes[0].httpGet.path: "health" must start with '/'`,
				"9:11 template.containers[0].probes[0].successThreshold: must be 1 for a Liveness probe",
				`10:11 template.containers[0].probes[1].type: probe type "Liveness" is already used at line 7`,
				"12:11 template.containers[0].probes[1].periodSeconds: 0 is out of range (1-240)",
				"13:11 template.containers[0].probes[2]: required: httpGet or tcpSocket",
				"14:11 template.containers[0].probes[3]: set either httpGet or tcpSocket, not both",
				`17:11 template.containers[0].probes[4].type: "Ready" is not one of Liveness, Readiness, Startup`,
				"18:23 template.containers[0].probes[4].tcpSocket.port: 99999 is not a port number",
			},
		},
		{
			name: "scale bounds",
			yaml: y(`
name: app
template:
  containers: [{name: app, image: app}]
  scale:
    minReplicas: 5
    maxReplicas: 2
`),
			errors: []string{"5:5 template.scale.minReplicas: 5 is greater than maxReplicas 2"},
		},
		{
			name: "scale: maxReplicas at least 1, min against the default max",
			yaml: y(`
name: app
template:
  containers: [{name: app, image: app}]
  scale:
    minReplicas: 12
`),
			errors: []string{"5:5 template.scale.minReplicas: 12 is greater than maxReplicas 10 (the default when maxReplicas is unset)"},
		},
		{
			name: "scale: ACA's ceiling, and rules with one kind each",
			yaml: y(`
name: app
template:
  containers: [{name: app, image: app}]
  scale:
    maxReplicas: 0
    rules:
      - name: both
        http: {metadata: {concurrentRequests: "10"}}
        custom: {type: redis}
      - name: queue
        azureQueue: {queueName: jobs, queueLength: 5, auth: [{secretRef: conn, triggerParameter: connection}]}
`),
			errors: []string{
				"5:5 template.scale.maxReplicas: 0 is out of range (1-1000)",
				"7:9 template.scale.rules[0]: set exactly one of http, tcp, custom and azureQueue (found 2)",
				`11:63 template.scale.rules[1].azureQueue.auth[0].secretRef: secret "conn" is not declared`,
			},
			warnings: []string{"8:9 template.scale.rules[0].http: an http scale rule needs ingress"},
		},
		{
			name: "resources: formats and the Consumption combinations",
			yaml: y(`
name: app
template:
  containers:
    - name: app
      image: app
      resources: {cpu: 0, memory: lots}
`),
			errors: []string{
				"6:19 template.containers[0].resources.cpu: 0 is not a CPU amount",
				`6:27 template.containers[0].resources.memory: "lots" is not a memory amount`,
			},
		},
		{
			name: "resources outside the Consumption combinations warn",
			yaml: y(`
name: app
template:
  containers:
    - {name: app, image: app, resources: {cpu: 0.5, memory: 0.5Gi}}
`),
			warnings: []string{"3:3 template.containers: the containers total 0.5 CPU and 0.5Gi memory"},
		},
		{
			name: "a dedicated workload profile takes any combination",
			yaml: y(`
name: app
properties:
  workloadProfileName: D4
  template:
    containers:
      - {name: app, image: app, resources: {cpu: 0.5, memory: 0.5Gi}}
`),
		},
		{
			name: "volumes and mounts",
			yaml: y(`
name: app
template:
  volumes:
    - {name: data, storageType: AzureFile}
    - {name: data, storageType: emptydir}
  containers:
    - name: app
      image: app
      volumeMounts:
        - {volumeName: cache, mountPath: /cache}
        - {volumeName: data, mountPath: "data:rw"}
`),
			errors: []string{
				"4:7 template.volumes[0].storageName: required: the environment storage to mount",
				`5:8 template.volumes[1].name: volume "data" is already used at line 4`,
				`10:12 template.containers[0].volumeMounts[0].volumeName: volume "cache" is not declared in template.volumes`,
				`11:30 template.containers[0].volumeMounts[1].mountPath: "data:rw" must be an absolute path without ':'`,
			},
		},
		{
			name: "custom domains",
			yaml: y(`
name: app
configuration:
  ingress:
    targetPort: 8080
    customDomains:
      - {name: WWW.example.com, bindingType: SniEnabled}
template:
  containers: [{name: app, image: app}]
`),
			errors: []string{
				"6:9 configuration.ingress.customDomains[0].certificateId: required: bindingType SniEnabled needs the certificate's resource ID",
				`6:10 configuration.ingress.customDomains[0].name: "WWW.example.com" is not a lowercase host name`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, probs := ParseContainerApp("app.yaml", []byte(tc.yaml))
			checkProblems(t, "errors", probs.Errors(), tc.errors)
			checkProblems(t, "warnings", probs.Warnings(), tc.warnings)
			if (app == nil) != (len(tc.errors) > 0) {
				t.Errorf("app returned = %v with %d errors", app != nil, len(tc.errors))
			}
			for _, p := range probs {
				if p.File != "app.yaml" {
					t.Errorf("problem names file %q", p.File)
				}
			}
		})
	}
}

func TestAppNameRules(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{name: "lowercase with dashes", in: "triage-backend", valid: true},
		{name: "digits inside", in: "app2go", valid: true},
		{name: "two characters", in: "ab", valid: true},
		{name: "thirty-two characters", in: strings.Repeat("a", 32), valid: true},
		{name: "one character", in: "a"},
		{name: "thirty-three characters", in: strings.Repeat("a", 33)},
		{name: "uppercase", in: "Backend"},
		{name: "starts with a digit", in: "2go"},
		{name: "ends with a dash", in: "app-"},
		{name: "double dash", in: "app--v1"},
		{name: "underscore", in: "my_app"},
		{name: "dot", in: "my.app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := appNameProblem(tc.in) == ""; got != tc.valid {
				t.Errorf("appNameProblem(%q) valid = %v, want %v", tc.in, got, tc.valid)
			}
		})
	}
}

func TestDaprAppIDRules(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{name: "app name style", in: "triage-backend", valid: true},
		{name: "starts with a digit", in: "1api", valid: true},
		{name: "dot", in: "api.prod"},
		{name: "uppercase", in: "Api"},
		{name: "too long for Kubernetes", in: strings.Repeat("a", 59)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := daprAppIDProblem(tc.in) == ""; got != tc.valid {
				t.Errorf("daprAppIDProblem(%q) valid = %v, want %v", tc.in, got, tc.valid)
			}
		})
	}
}

func TestMemoryGi(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want float64
		ok   bool
	}{
		{name: "Gi", in: "0.5Gi", want: 0.5, ok: true},
		{name: "Mi", in: "512Mi", want: 0.5, ok: true},
		{name: "ACA's Mb", in: "1024Mb", want: 1, ok: true},
		{name: "G", in: "2G", want: 2, ok: true},
		{name: "no unit", in: "512"},
		{name: "unknown unit", in: "1Qi"},
		{name: "not a number", in: "lots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := memoryGi(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Errorf("memoryGi(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseContainerAppGoldenMessages(t *testing.T) {
	src := y(`
name: backend
properties:
    configuration:
        ingress:
            targetPort: 8000
            transport: htpp
    template:
        containers:
          - name: backend
            imagee: backend:latest
`)
	_, probs := ParseContainerApp("apps/backend.yaml", []byte(src))
	want := `apps/backend.yaml:6:13: properties.configuration.ingress.transport: "htpp" is not one of auto, http, http2, tcp` + "\n" +
		`apps/backend.yaml:9:13: properties.template.containers[0].image: required: the container image (in process mode, cove runs the app from command: in the environment file)` + "\n" +
		`apps/backend.yaml:10:13: properties.template.containers[0].imagee: unknown field; did you mean "image"?`
	if got := probs.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseContainerAppReportsEveryMistake(t *testing.T) {
	// Three different kinds of mistake in one file: an unknown field, an
	// invalid value and a wrong type. All three come back, in file order.
	src := y(`
name: app
properties:
  configuration:
    ingress:
      targetPort: 8080
      externall: true
    dapr:
      enabled: true
      appProtocol: soap
  template:
    containers:
      - name: app
        image: app
    scale:
      maxReplicas: ten
`)
	_, probs := ParseContainerApp("app.yaml", []byte(src))
	checkProblems(t, "errors", probs.Errors(), []string{
		`6:7 properties.configuration.ingress.externall: unknown field; did you mean "external"?`,
		`9:7 properties.configuration.dapr.appProtocol: "soap" is not one of http, grpc`,
		`15:20 properties.template.scale.maxReplicas: expected an integer, got string "ten"`,
	})
}

func TestParseContainerAppNormalisesEnums(t *testing.T) {
	src := y(`
name: app
identity: {type: "systemassigned, userassigned"}
configuration:
  activeRevisionsMode: multiple
  ingress:
    targetPort: 8080
    transport: Auto
    clientCertificateMode: Require
    stickySessions: {affinity: Sticky}
    ipSecurityRestrictions: [{name: a, ipAddressRange: 10.0.0.0/8, action: allow}]
  dapr: {enabled: true, appPort: 8080, appProtocol: GRPC, logLevel: DEBUG}
template:
  containers:
    - name: app
      image: app
      probes: [{type: liveness, httpGet: {port: 8080, scheme: https}}]
  volumes: [{name: v, storageType: emptydir}]
`)
	app, probs := ParseContainerApp("app.yaml", []byte(src))
	if app == nil {
		t.Fatalf("parse failed: %v", probs)
	}
	c, tpl := app.Properties.Configuration, app.Properties.Template
	got := []string{
		app.Identity.Type, c.ActiveRevisionsMode, c.Ingress.Transport, c.Ingress.ClientCertificateMode,
		c.Ingress.StickySessions.Affinity, c.Ingress.IPSecurityRestrictions[0].Action, c.Dapr.AppProtocol,
		c.Dapr.LogLevel, tpl.Containers[0].Probes[0].Type, tpl.Containers[0].Probes[0].HTTPGet.Scheme,
		tpl.Volumes[0].StorageType,
	}
	want := []string{
		"SystemAssigned,UserAssigned", "Multiple", "auto", "require", "sticky", "Allow", "grpc",
		"debug", "Liveness", "HTTPS", "EmptyDir",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalised enums (-want +got):\n%s", diff)
	}
}

func intp(v int) *int { return &v }

// triageBackend is testdata/triage/backend/containerapp.yaml after parse.
func triageBackend() *ContainerApp {
	return &ContainerApp{
		Name: "triage-backend", Type: "Microsoft.App/containerApps", Location: "eastus",
		Properties: Properties{
			Configuration: &Configuration{
				ActiveRevisionsMode: "Single",
				Secrets: []Secret{{
					Name: "redis-password", KeyVaultURL: "https://kv-triage.vault.azure.net/secrets/redis-password", Identity: "system",
				}},
				Ingress: &Ingress{External: false, TargetPort: 8000, Transport: "auto"},
				Dapr:    &Dapr{Enabled: true, AppID: "triage-backend", AppPort: 8000, AppProtocol: "http"},
			},
			Template: &Template{
				Containers: []*Container{{
					BaseContainer: BaseContainer{
						Name: "triage-backend", Image: "triage-backend:latest",
						Env: []EnvVar{
							{Name: "STATE_STORE", Value: "statestore"},
							{Name: "REDIS_PASSWORD", SecretRef: "redis-password"},
						},
						Resources: &ContainerResources{CPU: 0.25, Memory: "0.5Gi"},
					},
					Probes: []*Probe{
						{Type: "Liveness", HTTPGet: &HTTPGetAction{Path: "/api/health", Port: 8000}, PeriodSeconds: intp(10)},
						{Type: "Readiness", TCPSocket: &TCPSocketAction{Port: 8000}},
					},
				}},
				Scale: &Scale{MinReplicas: 2, MaxReplicas: 2},
			},
		},
	}
}

// triageFrontend is testdata/triage/frontend/containerapp.yaml after parse:
// its top-level configuration and template are under properties, and the
// defaults are filled in.
func triageFrontend() *ContainerApp {
	return &ContainerApp{
		Name: "triage-frontend",
		Properties: Properties{
			Configuration: &Configuration{
				ActiveRevisionsMode: "Single",
				Ingress:             &Ingress{External: true, TargetPort: 80, Transport: "auto"},
				Dapr:                &Dapr{Enabled: true, AppID: "triage-frontend", AppPort: 80, AppProtocol: "http"},
			},
			Template: &Template{
				Containers: []*Container{{
					BaseContainer: BaseContainer{
						Name: "triage-frontend", Image: "triage-frontend:latest",
						Env:       []EnvVar{{Name: "BACKEND_APP_ID", Value: "triage-backend"}},
						Resources: &ContainerResources{CPU: 0.25, Memory: "0.5Gi"},
					},
				}},
				Scale: &Scale{MinReplicas: 1, MaxReplicas: 3},
			},
		},
	}
}

func TestParseContainerAppRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		file string
		want *ContainerApp
	}{
		{name: "internal backend with Dapr and two replicas", file: "testdata/triage/backend/containerapp.yaml", want: triageBackend()},
		{name: "external frontend with top-level configuration", file: "testdata/triage/frontend/containerapp.yaml", want: triageFrontend()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			app, probs := ParseContainerApp(tc.file, data)
			if app == nil || len(probs) > 0 {
				t.Fatalf("problems:\n%v", probs)
			}
			if diff := cmp.Diff(tc.want, app); diff != "" {
				t.Errorf("parsed app (-want +got):\n%s", diff)
			}
			// The same types serve the management API: the JSON form parses
			// back (JSON is YAML) to the same app.
			js, err := json.Marshal(app)
			if err != nil {
				t.Fatal(err)
			}
			again, probs := ParseContainerApp("app.json", js)
			if again == nil || len(probs) > 0 {
				t.Fatalf("JSON form does not parse back:\n%s\n%v", js, probs)
			}
			if diff := cmp.Diff(app, again); diff != "" {
				t.Errorf("JSON round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParseContainerAppShowOutput(t *testing.T) {
	// `az containerapp show -o yaml` prints ARM fields, read-only fields,
	// nulls, "Auto" for auto, exposedPort: 0 and secrets without values.
	data, err := os.ReadFile("testdata/files/show-backend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app, probs := ParseContainerApp("show-backend.yaml", data)
	if app == nil || len(probs) > 0 {
		t.Fatalf("problems:\n%v", probs)
	}
	c := app.Properties.Configuration
	if c.Ingress.Transport != "auto" || c.Ingress.TargetPort != 8000 || c.Ingress.External {
		t.Errorf("ingress = %+v", c.Ingress)
	}
	if got := app.DaprAppID(); got != "triage-backend" {
		t.Errorf("DaprAppID() = %q", got)
	}
	if got := app.Properties.LatestRevisionName; got != "triage-backend--0000001" {
		t.Errorf("LatestRevisionName = %q", got)
	}
	if v, ok := app.SecretValue("redis-password", nil); ok {
		t.Errorf("SecretValue of a secret without a value = %q, true", v)
	}
}

func TestContainerAppAccessors(t *testing.T) {
	tests := []struct {
		name        string
		yaml        string
		daprEnabled bool
		daprAppID   string
		daprPort    int
		ingress     bool
		targetPort  int
		minReplicas int
		maxReplicas int
	}{
		{
			name:        "Dapr app id defaults to the app name",
			yaml:        "name: worker\nconfiguration: {dapr: {enabled: true}}\ntemplate: {containers: [{name: w, image: w}]}\n",
			daprEnabled: true, daprAppID: "worker", maxReplicas: 10,
		},
		{
			name:    "Dapr configured but disabled",
			yaml:    "name: web\nconfiguration: {dapr: {enabled: false, appId: x}, ingress: {targetPort: 80}}\ntemplate: {containers: [{name: w, image: w}], scale: {minReplicas: 0, maxReplicas: 4}}\n",
			ingress: true, targetPort: 80, maxReplicas: 4,
		},
		{
			name:        "Dapr with a port and replicas",
			yaml:        "name: api\nconfiguration: {dapr: {enabled: true, appId: api-v2, appPort: 3000}, ingress: {targetPort: 3000}}\ntemplate: {containers: [{name: w, image: w}], scale: {minReplicas: 2}}\n",
			daprEnabled: true, daprAppID: "api-v2", daprPort: 3000, ingress: true, targetPort: 3000, minReplicas: 2, maxReplicas: 10,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, probs := ParseContainerApp("app.yaml", []byte(tc.yaml))
			if a == nil {
				t.Fatalf("problems: %v", probs)
			}
			got := []any{a.DaprEnabled(), a.DaprAppID(), a.DaprAppPort(), a.IngressEnabled(), a.TargetPort(), a.MinReplicas(), a.MaxReplicas()}
			want := []any{tc.daprEnabled, tc.daprAppID, tc.daprPort, tc.ingress, tc.targetPort, tc.minReplicas, tc.maxReplicas}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("accessors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretValue(t *testing.T) {
	app := &ContainerApp{Properties: Properties{Configuration: &Configuration{Secrets: []Secret{
		{Name: "literal", Value: "from-file"},
		{Name: "vault", KeyVaultURL: "https://kv.vault.azure.net/secrets/v"},
		{Name: "empty", Value: ""},
	}}}}
	local := map[string]string{"vault": "from-cove-yaml", "literal": "override", "undeclared": "x"}
	tests := []struct {
		name   string
		secret string
		local  map[string]string
		want   string
		ok     bool
	}{
		{name: "literal value", secret: "literal", want: "from-file", ok: true},
		{name: "local value wins", secret: "literal", local: local, want: "override", ok: true},
		{name: "Key Vault without a local value", secret: "vault"},
		{name: "Key Vault with a local value", secret: "vault", local: local, want: "from-cove-yaml", ok: true},
		{name: "an empty value is no value", secret: "empty"},
		{name: "undeclared, even with a local value", secret: "undeclared", local: local},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := app.SecretValue(tc.secret, tc.local)
			if got != tc.want || ok != tc.ok {
				t.Errorf("SecretValue(%q) = %q, %v; want %q, %v", tc.secret, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseContainerAppEverything(t *testing.T) {
	// A file using nearly every field of the schema parses without problems.
	data := mustRead(t, "testdata/files/everything.yaml")
	app, probs := ParseContainerApp("everything.yaml", data)
	if app == nil || len(probs) > 0 {
		t.Fatalf("problems:\n%v", probs)
	}
	c, tpl := app.Properties.Configuration, app.Properties.Template
	got := []any{
		c.IdentitySettings[0].Lifecycle, c.Ingress.Traffic[1].Label, tpl.Containers[0].Env[2].Value, tpl.Scale.Rules[2].AzureQueue.QueueLength,
		*tpl.TerminationGracePeriodSeconds, tpl.Volumes[1].Secrets[0].Path, c.Runtime.Java.EnableMetrics,
	}
	want := []any{"Main", "canary", "8080", 20, int64(45), "db", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestParseContainerAppMoreRules(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		errors   []string
		warnings []string
	}{
		{
			name: "registries: password or identity, and a user with the password",
			yaml: y(`
name: app
configuration:
  secrets: [{name: pw, value: x}]
  registries:
    - {server: a.azurecr.io, passwordSecretRef: pw, identity: system}
    - {username: me}
template: {containers: [{name: app, image: app}]}
`),
			errors: []string{
				"5:7 configuration.registries[0]: set either passwordSecretRef or identity, not both",
				"5:7 configuration.registries[0].username: required: the registry user",
				"6:7 configuration.registries[1].server: required: the registry's host name",
			},
		},
		{
			name: "revisions kept, identity settings, dev service, target label",
			yaml: y(`
name: app
configuration:
  maxInactiveRevisions: 101
  identitySettings: [{lifecycle: sometimes}]
  service: {}
  targetLabel: blue
template: {containers: [{name: app, image: app}]}
`),
			errors: []string{
				"3:3 configuration.maxInactiveRevisions: 101 is out of range (0-100)",
				"4:22 configuration.identitySettings[0].identity: required: the identity's resource ID, or system",
				`4:23 configuration.identitySettings[0].lifecycle: "sometimes" is not one of Init, Main, None, All`,
				"5:3 configuration.service.type: required: the dev service type",
			},
			warnings: []string{"6:3 configuration.targetLabel: targetLabel is only used with activeRevisionsMode: Labels"},
		},
		{
			name: "HTTP features do not apply over TCP",
			yaml: y(`
name: app
configuration:
  ingress:
    transport: tcp
    targetPort: 5432
    exposedPort: 80
    stickySessions: {affinity: sticky}
    corsPolicy: {allowedOrigins: ["*"], allowCredentials: true}
template: {containers: [{name: app, image: app}]}
`),
			errors: []string{"6:5 configuration.ingress.exposedPort: 80 is reserved for HTTP ingress"},
			warnings: []string{
				"7:5 configuration.ingress.stickySessions: sticky sessions need HTTP",
				"8:5 configuration.ingress.corsPolicy: CORS needs HTTP",
				`8:41 configuration.ingress.corsPolicy.allowCredentials: browsers refuse credentials when allowedOrigins is "*"`,
			},
		},
		{
			name: "traffic entries name one target, weights are percentages, labels are names",
			yaml: y(`
name: app
configuration:
  activeRevisionsMode: Multiple
  ingress:
    targetPort: 80
    traffic:
      - {revisionName: app--a, latestRevision: true, weight: 50}
      - {weight: 150, label: Blue}
template: {containers: [{name: app, image: app}]}
`),
			errors: []string{
				"6:5 configuration.ingress.traffic: weights add up to 200",
				"7:9 configuration.ingress.traffic[0]: set either revisionName or latestRevision: true, not both",
				"8:9 configuration.ingress.traffic[1]: required: revisionName, or latestRevision: true",
				"8:10 configuration.ingress.traffic[1].weight: 150 is not a percentage (0-100)",
				`8:23 configuration.ingress.traffic[1].label: "Blue" is not a valid label`,
			},
		},
		{
			name: "labels mode sends traffic to labels",
			yaml: y(`
name: app
configuration:
  activeRevisionsMode: Labels
  targetLabel: Stage
  ingress:
    targetPort: 80
    traffic:
      - {label: prod, weight: 80}
      - {label: stage, weight: 20}
      - {weight: 0}
template: {containers: [{name: app, image: app}]}
`),
			errors: []string{
				`4:3 configuration.targetLabel: "Stage" is not a valid label: use lowercase letters, digits and '-', starting with a letter`,
				"10:9 configuration.ingress.traffic[2]: required: label, revisionName, or latestRevision: true",
			},
		},
		{
			name: "labels mode without a target label",
			yaml: y(`
name: app
configuration:
  activeRevisionsMode: Labels
  ingress:
    targetPort: 80
    traffic: [{label: prod, weight: 100}]
template: {containers: [{name: app, image: app}]}
`),
			warnings: []string{"3:3 configuration.activeRevisionsMode: activeRevisionsMode Labels needs targetLabel, the label each new revision takes; without it new revisions get none"},
		},
		{
			name: "scale timing and rule details",
			yaml: y(`
name: app
template:
  containers: [{name: app, image: app}]
  scale:
    minReplicas: -1
    cooldownPeriod: -5
    pollingInterval: 0
    rules:
      - {name: Q, azureQueue: {queueName: "", queueLength: 0}}
      - {name: q2, custom: {auth: [{}]}}
      - {name: q2, tcp: {}}
      - {name: none}
`),
			errors: []string{
				"5:5 template.scale.minReplicas: -1 is out of range (0-1000)",
				"6:5 template.scale.cooldownPeriod: -5 is negative",
				"7:5 template.scale.pollingInterval: 0 is not a polling interval",
				`9:10 template.scale.rules[0].name: "Q" is not a valid rule name`,
				"9:32 template.scale.rules[0].azureQueue.queueName: required: the queue to watch",
				"9:47 template.scale.rules[0].azureQueue.queueLength: required: the queue length per replica",
				"10:20 template.scale.rules[1].custom.type: required: the KEDA scaler type",
				"10:36 template.scale.rules[1].custom.auth[0].triggerParameter: required: the scaler parameter",
				"10:36 template.scale.rules[1].custom.auth[0].secretRef: required: the secret holding the value",
				`11:10 template.scale.rules[2].name: scale rule "q2" is already used at line 10`,
				"12:9 template.scale.rules[3]: set exactly one of http, tcp, custom and azureQueue (found 0)",
			},
		},
		{
			name: "secret volumes: only with storageType Secret, naming declared secrets",
			yaml: y(`
name: app
template:
  containers: [{name: app, image: app}]
  volumes:
    - {name: files, secrets: [{secretRef: pw}]}
    - {name: certs, storageType: Secret, secrets: [{secretRef: tls}]}
    - {name: nfs, storageType: nfs}
`),
			errors: []string{
				"5:21 template.volumes[0].secrets: secrets are only used with storageType: Secret",
				`5:32 template.volumes[0].secrets[0].secretRef: secret "pw" is not declared`,
				`6:53 template.volumes[1].secrets[0].secretRef: secret "tls" is not declared in properties.configuration.secrets`,
				`7:19 template.volumes[2].storageType: "nfs" is not one of AzureFile, EmptyDir, Secret, NfsAzureFile`,
			},
		},
		{
			name: "probe ports and a grace period",
			yaml: y(`
name: app
template:
  terminationGracePeriodSeconds: -1
  containers:
    - name: app
      image: app
      probes:
        - {type: Readiness, httpGet: {path: /}, terminationGracePeriodSeconds: 4000}
`),
			errors: []string{
				"3:3 template.terminationGracePeriodSeconds: -1 is negative",
				"8:29 template.containers[0].probes[0].httpGet.port: required: the container port to probe",
				"8:49 template.containers[0].probes[0].terminationGracePeriodSeconds: 4000 is out of range (0-3600)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, probs := ParseContainerApp("app.yaml", []byte(tc.yaml))
			checkProblems(t, "errors", probs.Errors(), tc.errors)
			checkProblems(t, "warnings", probs.Warnings(), tc.warnings)
			if (app == nil) != (len(tc.errors) > 0) {
				t.Errorf("app returned = %v with %d errors", app != nil, len(tc.errors))
			}
		})
	}
}
