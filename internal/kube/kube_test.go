package kube

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cove-env/cove/internal/spec"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// decoded is an export's YAML stream read back, each document strictly
// into its kind's type: a field the type does not have fails the test.
type decoded struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	ingresses   map[string]*networkingv1.Ingress
	scaled      map[string]*ScaledObject
	auths       map[string]*TriggerAuthentication
	components  map[string]*spec.Component
	namespaces  []string // of every document
}

func export(t *testing.T, file string, opts Options) (*Manifests, *decoded) {
	t.Helper()
	env, err := spec.Load(file)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	m := Export(env, opts)
	data, err := Marshal(m.All())
	if err != nil {
		t.Fatal(err)
	}
	return m, decode(t, data)
}

func decode(t *testing.T, data []byte) *decoded {
	t.Helper()
	d := &decoded{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		secrets: map[string]*corev1.Secret{}, ingresses: map[string]*networkingv1.Ingress{},
		scaled: map[string]*ScaledObject{}, auths: map[string]*TriggerAuthentication{},
		components: map[string]*spec.Component{},
	}
	for i, doc := range strings.Split(string(data), "\n---\n") {
		var tm struct {
			metav1.TypeMeta   `json:",inline"`
			metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		d.namespaces = append(d.namespaces, tm.Namespace)
		var target any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			target, d.deployments[tm.Name] = o, o
		case "v1 Service":
			o := &corev1.Service{}
			target, d.services[tm.Name] = o, o
		case "v1 Secret":
			o := &corev1.Secret{}
			target, d.secrets[tm.Name] = o, o
		case "networking.k8s.io/v1 Ingress":
			o := &networkingv1.Ingress{}
			target, d.ingresses[tm.Name] = o, o
		case "keda.sh/v1alpha1 ScaledObject":
			o := &ScaledObject{}
			target, d.scaled[tm.Name] = o, o
		case "keda.sh/v1alpha1 TriggerAuthentication":
			o := &TriggerAuthentication{}
			target, d.auths[tm.Name] = o, o
		case "dapr.io/v1alpha1 Component":
			// cove's own parser of Dapr's format, strict as it is for
			// the files cove.yaml lists.
			c, probs := spec.ParseComponent("components.yaml", []byte(doc))
			if len(probs) > 0 || c == nil {
				t.Fatalf("component %s does not parse as a Dapr component: %v\n%s", tm.Name, probs, doc)
			}
			d.components[c.Name] = c
			continue
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("document %d (%s %s) does not decode strictly: %v\n%s", i, tm.Kind, tm.Name, err, doc)
		}
	}
	return d
}

func hasWarning(m *Manifests, parts ...string) bool {
	return slices.ContainsFunc(m.Warnings, func(w string) bool {
		for _, p := range parts {
			if !strings.Contains(w, p) {
				return false
			}
		}
		return true
	})
}

func TestExportTriageExample(t *testing.T) {
	m, d := export(t, "../../examples/triage/cove.yaml", Options{Namespace: "triage"})
	for i, ns := range d.namespaces {
		if ns != "triage" {
			t.Errorf("document %d has namespace %q, want triage", i, ns)
		}
	}
	if len(d.deployments) != 3 || len(d.services) != 3 || len(d.components) != 2 {
		t.Fatalf("%d deployments, %d services, %d components; want 3, 3, 2", len(d.deployments), len(d.services), len(d.components))
	}
	be := d.deployments["triage-backend"]
	if be == nil || *be.Spec.Replicas != 2 {
		t.Fatalf("triage-backend: %+v, want 2 replicas", be)
	}
	c := be.Spec.Template.Spec.Containers[0]
	if c.Image != "triage-backend:latest" || c.Resources.Requests.Cpu().String() != "250m" || c.Resources.Limits.Memory().String() != "512Mi" {
		t.Errorf("triage-backend container: image %s, resources %v", c.Image, c.Resources)
	}
	// cove.yaml's local env (HOST) is not exported; the template's is.
	if len(c.Env) != 1 || c.Env[0].Name != "STATE_STORE" {
		t.Errorf("triage-backend env %+v, want only STATE_STORE", c.Env)
	}
	an := be.Spec.Template.Annotations
	if an["dapr.io/enabled"] != "true" || an["dapr.io/app-id"] != "triage-backend" || an["dapr.io/app-port"] != "8000" {
		t.Errorf("triage-backend Dapr annotations %v", an)
	}
	if sel := be.Spec.Selector.MatchLabels[NameLabel]; sel != "triage-backend" || be.Spec.Template.Labels[NameLabel] != sel {
		t.Errorf("selector %v does not match the pod labels %v", be.Spec.Selector, be.Spec.Template.Labels)
	}
	if p := d.services["triage-backend"].Spec.Ports; len(p) != 1 || p[0].Port != 80 || p[0].TargetPort.IntValue() != 8000 {
		t.Errorf("triage-backend service ports %+v, want 80 -> 8000", p)
	}
	// The backend and notifier are internal: a Service, no Ingress.
	if len(d.ingresses) != 1 {
		t.Fatalf("ingresses %v, want the frontend's only", d.ingresses)
	}
	in := d.ingresses["triage-frontend"]
	if in.Spec.Rules[0].Host != "triage-frontend.example.com" || *in.Spec.IngressClassName != "nginx" {
		t.Errorf("frontend ingress %+v", in.Spec)
	}
	if len(in.Spec.TLS) != 0 {
		t.Errorf("frontend allows insecure HTTP, want no TLS section; got %+v", in.Spec.TLS)
	}
	if st := d.components["statestore"]; st.Type != "state.sqlite" || !slices.Equal(st.Scopes, []string{"triage-backend"}) || st.Namespace != "triage" {
		t.Errorf("statestore %+v", st)
	}
	if !hasWarning(m, "statestore", "real backend") || !hasWarning(m, "pubsub", "natsURL") {
		t.Errorf("no warning about the embedded components: %q", m.Warnings)
	}
}

func TestExportShop(t *testing.T) {
	m, d := export(t, "testdata/shop/cove.yaml", Options{Domain: "apps.example.net"})
	for i, ns := range d.namespaces {
		if ns != "" {
			t.Errorf("document %d has namespace %q without --namespace", i, ns)
		}
	}

	t.Run("deployment", func(t *testing.T) {
		web := d.deployments["web"]
		// minReplicas 0: one replica, and a note that KEDA scales to zero.
		if *web.Spec.Replicas != 1 || !strings.Contains(web.Annotations[ScaleNoteAnnotation], "KEDA") {
			t.Errorf("web replicas %d, annotations %v", *web.Spec.Replicas, web.Annotations)
		}
		pod := web.Spec.Template.Spec
		if *pod.TerminationGracePeriodSeconds != 45 || len(pod.InitContainers) != 1 || pod.InitContainers[0].Command[0] != "/migrate" {
			t.Errorf("web pod %+v", pod)
		}
		c := pod.Containers[0]
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		ref := env["DB_PASSWORD"].ValueFrom
		if ref == nil || ref.SecretKeyRef.Name != "web-secrets" || ref.SecretKeyRef.Key != "db-password" || env["DB_PASSWORD"].Value != "" {
			t.Errorf("DB_PASSWORD %+v, want web-secrets/db-password", env["DB_PASSWORD"])
		}
		if env["MODE"].Value != "production" {
			t.Errorf("MODE %+v", env["MODE"])
		}
		if r := c.ReadinessProbe; r == nil || r.HTTPGet.Path != "/ready" || r.HTTPGet.Port.IntValue() != 8080 ||
			r.HTTPGet.HTTPHeaders[0].Name != "X-Probe" || r.SuccessThreshold != 2 || r.TimeoutSeconds != 3 {
			t.Errorf("readiness probe %+v", r)
		}
		if s := c.StartupProbe; s == nil || s.TCPSocket.Port.IntValue() != 8080 || s.FailureThreshold != 10 || s.InitialDelaySeconds != 2 {
			t.Errorf("startup probe %+v", s)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/live" {
			t.Errorf("liveness probe %+v", c.LivenessProbe)
		}
		vols := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			vols[v.Name] = v
		}
		if vols["cache"].EmptyDir == nil {
			t.Errorf("cache volume %+v, want an emptyDir", vols["cache"])
		}
		if s := vols["secrets"].Secret; s == nil || s.SecretName != "web-secrets" || s.Items[0] != (corev1.KeyToPath{Key: "db-password", Path: "db"}) {
			t.Errorf("secrets volume %+v", vols["secrets"])
		}
		an := web.Spec.Template.Annotations
		for k, v := range map[string]string{
			"dapr.io/app-id": "shop-web", "dapr.io/enable-api-logging": "true", "dapr.io/log-level": "debug",
			"dapr.io/max-body-size": "16Mi", "dapr.io/read-buffer-size": "128Ki",
		} {
			if an[k] != v {
				t.Errorf("annotation %s = %q, want %q", k, an[k], v)
			}
		}
		// The process-mode app runs its image; cove.yaml's command and env stay local.
		api := d.deployments["api"]
		if *api.Spec.Replicas != 2 || api.Spec.Template.Spec.Containers[0].Image != "registry.example.org/shop-api:3" || len(api.Spec.Template.Spec.Containers[0].Env) != 0 {
			t.Errorf("api deployment %+v", api.Spec)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		s := d.secrets["web-secrets"]
		if s == nil || s.StringData["db-password"] != "s3cret" || len(s.StringData) != 2 {
			t.Fatalf("web-secrets %+v", s)
		}
		if _, ok := s.StringData["vault-token"]; ok {
			t.Error("the Key Vault secret, or its local value, was exported")
		}
		if !hasWarning(m, "app web", "vault-token", "Key Vault") {
			t.Errorf("no warning naming the Key Vault secret: %q", m.Warnings)
		}
		if cs := d.secrets["orders-secrets"]; cs == nil || cs.StringData["redis-password"] != "r3dis" || len(cs.StringData) != 1 {
			t.Errorf("orders-secrets %+v", cs)
		}
	})

	t.Run("services", func(t *testing.T) {
		if p := d.services["api"].Spec; p.Type != corev1.ServiceTypeClusterIP || p.Ports[0].Port != 80 || p.Ports[0].TargetPort.IntValue() != 3000 {
			t.Errorf("api service %+v", p)
		}
		if p := d.services["cache"].Spec; p.Type != corev1.ServiceTypeLoadBalancer || p.Ports[0].Port != 16379 || p.Ports[0].TargetPort.IntValue() != 6379 {
			t.Errorf("cache service %+v, want a LoadBalancer 16379 -> 6379", p)
		}
		if d.ingresses["api"] != nil || d.ingresses["cache"] != nil {
			t.Error("an internal or TCP app has an Ingress")
		}
	})

	t.Run("ingress", func(t *testing.T) {
		in := d.ingresses["web"]
		var hosts []string
		for _, r := range in.Spec.Rules {
			hosts = append(hosts, r.Host)
			b := r.HTTP.Paths[0].Backend.Service
			if b.Name != "web" || b.Port.Number != 80 {
				t.Errorf("rule %s backend %+v", r.Host, b)
			}
		}
		if want := []string{"web.apps.example.net", "shop.example.org"}; !slices.Equal(hosts, want) {
			t.Errorf("hosts %v, want %v", hosts, want)
		}
		if len(in.Spec.TLS) != 1 || in.Spec.TLS[0].SecretName != "web-tls" || !slices.Equal(in.Spec.TLS[0].Hosts, hosts) {
			t.Errorf("tls %+v", in.Spec.TLS)
		}
		for k, v := range map[string]string{
			"whitelist-source-range": "203.0.113.0/24,198.51.100.7/32",
			"enable-cors":            "true",
			"cors-allow-origin":      "https://shop.example.org, https://admin.example.org",
			"cors-allow-methods":     "GET, POST",
			"cors-allow-credentials": "true",
			"cors-max-age":           "600",
			"affinity":               "cookie",
		} {
			if got := in.Annotations[nginx+k]; got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})

	t.Run("scale", func(t *testing.T) {
		so := d.scaled["web"]
		if so == nil || *so.Spec.MinReplicaCount != 0 || *so.Spec.MaxReplicaCount != 8 || *so.Spec.CooldownPeriod != 120 || so.Spec.ScaleTargetRef.Name != "web" {
			t.Fatalf("scaled object %+v", so)
		}
		if len(so.Spec.Triggers) != 2 {
			t.Fatalf("triggers %+v, want cpu and azure-servicebus (http needs the add-on)", so.Spec.Triggers)
		}
		cpu, sb := so.Spec.Triggers[0], so.Spec.Triggers[1]
		if cpu.Type != "cpu" || cpu.MetricType != "Utilization" || cpu.Metadata["value"] != "70" || cpu.Metadata["type"] != "" {
			t.Errorf("cpu trigger %+v", cpu)
		}
		if sb.Type != "azure-servicebus" || sb.Metadata["queueName"] != "orders" || sb.AuthenticationRef == nil {
			t.Fatalf("servicebus trigger %+v", sb)
		}
		ta := d.auths[sb.AuthenticationRef.Name]
		if ta == nil || ta.Spec.SecretTargetRef[0] != (SecretTarget{Parameter: "connection", Name: "web-secrets", Key: "queue-connection"}) {
			t.Errorf("trigger authentication %+v", ta)
		}
		if !hasWarning(m, "http-load", "HTTP add-on") {
			t.Errorf("no warning about the http rule: %q", m.Warnings)
		}
		if d.scaled["api"] != nil {
			t.Error("api has no scale rules but got a ScaledObject")
		}
	})

	t.Run("components", func(t *testing.T) {
		orders := d.components["orders"]
		if orders.Type != "state.redis" || orders.SecretStore != "kubernetes" || !slices.Equal(orders.Scopes, []string{"shop-web", "api"}) {
			t.Errorf("orders %+v", orders)
		}
		pw := orders.Metadata[1]
		if pw.Name != "redisPassword" || pw.SecretRef != "orders-secrets" || pw.SecretKey != "redis-password" {
			t.Errorf("orders redisPassword %+v, want orders-secrets/redis-password", pw)
		}
		ev := d.components["events"]
		if ev.SecretStore != "vault" || ev.Metadata[1].SecretRef != "shop-redis" || ev.Metadata[1].SecretKey != "password" {
			t.Errorf("events %+v", ev)
		}
		if !hasWarning(m, "vault", "real backend") || !hasWarning(m, "local-pubsub", "real backend") || hasWarning(m, "events", "real backend") {
			t.Errorf("warnings about embedded components: %q", m.Warnings)
		}
	})

	if !hasWarning(m, "app web", "split across 2 revisions") {
		t.Errorf("no warning about the traffic split: %q", m.Warnings)
	}
}

func TestWriteDir(t *testing.T) {
	env, err := spec.Load("../../examples/triage/cove.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "k8s")
	paths, err := Export(env, Options{}).WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600 (the files carry secrets)", p, err, fi.Mode())
		}
	}
	if want := []string{"triage-backend.yaml", "triage-frontend.yaml", "triage-notifier.yaml", "components.yaml"}; !slices.Equal(names, want) {
		t.Fatalf("wrote %v, want %v", names, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "triage-frontend.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, data)
	if len(d.deployments) != 1 || len(d.services) != 1 || len(d.ingresses) != 1 || len(d.components) != 0 {
		t.Errorf("triage-frontend.yaml holds %v", d)
	}
}

// TestExportIngressVariants covers what the example environments do not:
// Deny rules, HTTP/2 and HTTPS backends, an external port of an HTTP app,
// and an app and a component whose Secrets would share a name.
func TestExportIngressVariants(t *testing.T) {
	app := func(name string, in *spec.Ingress) *spec.AppEntry {
		return &spec.AppEntry{App: &spec.ContainerApp{Name: name, Properties: spec.Properties{
			Configuration: &spec.Configuration{Ingress: in, Secrets: []spec.Secret{{Name: "token", Value: "t"}}},
			Template:      &spec.Template{Containers: []*spec.Container{{BaseContainer: spec.BaseContainer{Name: name, Image: name + ":1"}}}},
		}}}
	}
	env := &spec.Environment{
		Apps: []*spec.AppEntry{
			app("grpc", &spec.Ingress{External: true, TargetPort: 50051, Transport: "http2", AllowInsecure: true,
				IPSecurityRestrictions: []spec.IPSecurityRestriction{{Name: "bad", IPAddressRange: "192.0.2.0/24", Action: "Deny"}},
				AdditionalPortMappings: []spec.IngressPortMapping{{External: true, TargetPort: 9090}}}),
			app("tls", &spec.Ingress{External: true, TargetPort: 8443, Transport: "auto", TargetPortHTTPScheme: "https"}),
		},
		Components: []*spec.ComponentEntry{{Name: "grpc", Component: &spec.Component{
			Name: "grpc", Type: "state.redis", Version: "v1", Format: spec.FormatACA,
			Secrets:  []spec.Secret{{Name: "pw", Value: "p"}},
			Metadata: []spec.MetadataItem{{Name: "redisPassword", SecretRef: "pw"}},
		}}},
	}
	m := Export(env, Options{Namespace: "v"})
	data, err := Marshal(m.All())
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, data)
	g := d.ingresses["grpc"].Annotations
	if g[nginx+"backend-protocol"] != "GRPC" || g[nginx+"denylist-source-range"] != "192.0.2.0/24" || g[nginx+"whitelist-source-range"] != "" {
		t.Errorf("grpc ingress annotations %v", g)
	}
	if p := d.services["grpc"].Spec.Ports; len(p) != 2 || p[1].Port != 9090 || p[1].Name != "port-9090" {
		t.Errorf("grpc service ports %+v", p)
	}
	if got := d.ingresses["tls"].Annotations[nginx+"backend-protocol"]; got != "HTTPS" {
		t.Errorf("tls backend-protocol %q, want HTTPS", got)
	}
	for _, w := range [][]string{
		{"app grpc", "http2", "gRPC only"},
		{"app grpc", "additional port 9090"},
		{"app grpc", "denylist-source-range"},
		{"two Secret objects", "grpc-secrets"},
	} {
		if !hasWarning(m, w...) {
			t.Errorf("no warning with %q in %q", w, m.Warnings)
		}
	}
	if hasWarning(m, "two", "tls") {
		t.Errorf("a collision reported for tls: %q", m.Warnings)
	}
}
