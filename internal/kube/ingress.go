package kube

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/cove-env/cove/internal/spec"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// IngressClass is the class of the Ingresses of external HTTP apps.
const IngressClass = "nginx"

// nginx is the prefix of ingress-nginx's annotations.
const nginx = "nginx.ingress.kubernetes.io/"

// requestTimeout is ACA's limit, in seconds, on how long an app may take
// to answer through ingress; ingress-nginx's own is 60.
const requestTimeout = "240"

// service is the app's Service, as ACA's internal name for it: port 80 of
// http://<app> for HTTP, the exposed port for TCP; nil without ingress.
func (x *exporter) service(app *spec.ContainerApp) *corev1.Service {
	in := app.Properties.Configuration.Ingress
	if in == nil {
		return nil
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: x.meta(app.Name, app.Name),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{NameLabel: app.Name},
		},
	}
	if in.Transport == "tcp" {
		svc.Spec.Ports = []corev1.ServicePort{servicePort("tcp", cmp.Or(in.ExposedPort, in.TargetPort), in.TargetPort)}
		if in.External {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
		}
	} else {
		svc.Spec.Ports = []corev1.ServicePort{servicePort("http", 80, in.TargetPort)}
	}
	for _, pm := range in.AdditionalPortMappings {
		exposed := cmp.Or(pm.ExposedPort, pm.TargetPort)
		svc.Spec.Ports = append(svc.Spec.Ports, servicePort("port-"+strconv.Itoa(exposed), exposed, pm.TargetPort))
		if pm.External && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			x.warnf("app %s: additional port %d is external in ACA but only in-cluster here: expose it with a LoadBalancer Service", app.Name, exposed)
		}
	}
	return svc
}

func servicePort(name string, port, target int) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: int32(port), TargetPort: intstr.FromInt32(int32(target))}
}

// ingress is the Ingress of an external HTTP app: its host under the
// domain and its custom domains, TLS from the Secret <app>-tls unless the
// app allows plain HTTP, and ACA's ingress settings as ingress-nginx
// annotations. nil for internal and TCP apps, which the Service serves.
func (x *exporter) ingress(app *spec.ContainerApp) *networkingv1.Ingress {
	in := app.Properties.Configuration.Ingress
	if in == nil || !in.External || in.Transport == "tcp" {
		return nil
	}
	hosts := []string{app.Name + "." + x.opts.Domain}
	for _, d := range in.CustomDomains {
		hosts = append(hosts, d.Name)
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: x.meta(app.Name, app.Name),
		Spec:       networkingv1.IngressSpec{IngressClassName: ptr(IngressClass)},
	}
	ing.Annotations = x.nginxAnnotations(app, in)
	for _, h := range hosts {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{
			Host: h,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path:     "/",
					PathType: ptr(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: app.Name, Port: networkingv1.ServiceBackendPort{Number: 80},
					}},
				}},
			}},
		})
	}
	if !in.AllowInsecure {
		// ingress-nginx redirects HTTP to HTTPS for hosts with TLS, as ACA does.
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: hosts, SecretName: app.Name + "-tls"}}
	}
	return ing
}

// nginxAnnotations carry the app's IP rules, CORS policy, session
// affinity, backend protocol and ACA's request timeout.
func (x *exporter) nginxAnnotations(app *spec.ContainerApp, in *spec.Ingress) map[string]string {
	an := map[string]string{nginx + "proxy-read-timeout": requestTimeout, nginx + "proxy-send-timeout": requestTimeout}
	var allow, deny []string
	for _, r := range in.IPSecurityRestrictions {
		if r.Action == "Deny" {
			deny = append(deny, r.IPAddressRange)
		} else {
			allow = append(allow, r.IPAddressRange)
		}
	}
	if len(allow) > 0 {
		an[nginx+"whitelist-source-range"] = strings.Join(allow, ",")
	}
	if len(deny) > 0 {
		an[nginx+"denylist-source-range"] = strings.Join(deny, ",")
		x.warnf("app %s: its Deny IP rules become ingress-nginx's denylist-source-range, which needs ingress-nginx 1.9 or later", app.Name)
	}
	if c := in.CORSPolicy; c != nil {
		an[nginx+"enable-cors"] = "true"
		an[nginx+"cors-allow-origin"] = strings.Join(c.AllowedOrigins, ", ")
		an[nginx+"cors-allow-credentials"] = strconv.FormatBool(c.AllowCredentials)
		if len(c.AllowedMethods) > 0 {
			an[nginx+"cors-allow-methods"] = strings.Join(c.AllowedMethods, ", ")
		}
		if len(c.AllowedHeaders) > 0 {
			an[nginx+"cors-allow-headers"] = strings.Join(c.AllowedHeaders, ", ")
		}
		if len(c.ExposeHeaders) > 0 {
			an[nginx+"cors-expose-headers"] = strings.Join(c.ExposeHeaders, ", ")
		}
		if c.MaxAge > 0 {
			an[nginx+"cors-max-age"] = strconv.Itoa(c.MaxAge)
		}
	}
	if s := in.StickySessions; s != nil && s.Affinity == "sticky" {
		an[nginx+"affinity"] = "cookie"
	}
	https := in.TargetPortHTTPScheme == "https"
	switch {
	case in.Transport == "http2":
		// nginx speaks HTTP/2 to a backend only as gRPC.
		an[nginx+"backend-protocol"] = map[bool]string{false: "GRPC", true: "GRPCS"}[https]
		x.warnf("app %s: transport http2 becomes ingress-nginx's backend-protocol %s, which proxies gRPC only", app.Name, an[nginx+"backend-protocol"])
	case https:
		an[nginx+"backend-protocol"] = "HTTPS"
	}
	if m := in.ClientCertificateMode; m == "require" || m == "accept" {
		x.warnf("app %s: clientCertificateMode %s is not exported: set ingress-nginx's auth-tls annotations with your CA", app.Name, m)
	}
	for _, d := range in.CustomDomains {
		if d.CertificateID != "" {
			x.warnf("app %s: custom domain %s's certificate is not exported: %s-tls must cover it", app.Name, d.Name, app.Name)
		}
	}
	return an
}
