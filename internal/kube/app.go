package kube

import (
	"cmp"
	"strconv"

	"github.com/cove-env/cove/internal/spec"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ScaleNoteAnnotation explains on a Deployment why its replicas are more
// than the app's minReplicas of 0.
const ScaleNoteAnnotation = "cove-env.github.io/scale-to-zero"

// The Dapr operator's pod annotations (its injector's names; the size
// settings under their current names, which take Kubernetes quantities).
const (
	daprEnabled     = "dapr.io/enabled"
	daprAppID       = "dapr.io/app-id"
	daprAppPort     = "dapr.io/app-port"
	daprAppProtocol = "dapr.io/app-protocol"
	daprAPILogging  = "dapr.io/enable-api-logging"
	daprLogLevel    = "dapr.io/log-level"
	daprMaxBodySize = "dapr.io/max-body-size"
	daprReadBuffer  = "dapr.io/read-buffer-size"
)

// app returns the objects of one app: its Secret, Deployment, Service,
// Ingress and scaling objects, those it needs.
func (x *exporter) app(a *spec.AppEntry) []any {
	app := a.App
	var objs []any
	if s := x.appSecret(app); s != nil {
		objs = append(objs, s)
	}
	objs = append(objs, x.deployment(a))
	if svc := x.service(app); svc != nil {
		objs = append(objs, svc)
	}
	if in := x.ingress(app); in != nil {
		objs = append(objs, in)
	}
	objs = append(objs, x.scaling(app)...)
	if len(a.Secrets) > 0 {
		x.warnf("app %s: the local secret values in the environment file are not exported; give the secrets their values in %s-secrets", app.Name, app.Name)
	}
	return objs
}

// secretName is the Secret holding an app's (or a component's) secrets.
func secretName(owner string) string { return owner + "-secrets" }

// appSecret is the Secret of the app's secrets that have values; nil when
// none has.
func (x *exporter) appSecret(app *spec.ContainerApp) *corev1.Secret {
	data := x.secretData("app "+app.Name, app.Properties.Configuration.Secrets)
	if len(data) == 0 {
		return nil
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: x.meta(secretName(app.Name), app.Name),
		Type:       corev1.SecretTypeOpaque,
		StringData: data,
	}
}

// secretData are the values of secrets, warning about those without one.
func (x *exporter) secretData(owner string, secrets []spec.Secret) map[string]string {
	data := map[string]string{}
	for _, s := range secrets {
		switch {
		case s.KeyVaultURL != "":
			x.warnf("%s: secret %s is a Key Vault reference, which cannot be exported; it is left out: add it to the Secret yourself (or sync it with the Secrets Store CSI driver)", owner, s.Name)
		case s.Value == "":
			x.warnf("%s: secret %s has no value in its file; it is left out: add it to the Secret yourself", owner, s.Name)
		default:
			data[s.Name] = s.Value
		}
	}
	return data
}

// deployment is the app's latest revision as a Deployment. Only the
// template's images run: cove.yaml's local commands, directories and env
// say how to run the app on a machine, not in a cluster.
func (x *exporter) deployment(a *spec.AppEntry) *appsv1.Deployment {
	app := a.App
	t := app.Properties.Template
	labels := map[string]string{NameLabel: app.Name}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: x.meta(app.Name, app.Name),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(max(app.MinReplicas(), 1))),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: daprAnnotations(app)},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: t.TerminationGracePeriodSeconds,
					Volumes:                       x.volumes(app),
				},
			},
		},
	}
	if app.MinReplicas() == 0 {
		d.Annotations = map[string]string{ScaleNoteAnnotation: "minReplicas is 0 in the container app: scaling to zero needs KEDA (a ScaledObject with minReplicaCount 0)"}
	}
	for _, c := range t.InitContainers {
		d.Spec.Template.Spec.InitContainers = append(d.Spec.Template.Spec.InitContainers, container(app, &c.BaseContainer, x))
	}
	for _, c := range t.Containers {
		k := container(app, &c.BaseContainer, x)
		probes(&k, c.Probes)
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, k)
	}
	c := app.Properties.Configuration
	if len(c.Registries) > 0 {
		x.warnf("app %s: its registry credentials are not exported: create an image pull secret and name it in the Deployment's imagePullSecrets", app.Name)
	}
	if in := c.Ingress; in != nil {
		split := 0
		for _, w := range in.Traffic {
			if w.Weight > 0 {
				split++
			}
		}
		if split > 1 {
			x.warnf("app %s: traffic is split across %d revisions; only the latest revision's template is exported", app.Name, split)
		}
	}
	return d
}

// daprAnnotations are the pod annotations that have the Dapr operator
// inject the app's sidecar; nil without Dapr.
func daprAnnotations(app *spec.ContainerApp) map[string]string {
	if !app.DaprEnabled() {
		return nil
	}
	dc := app.Properties.Configuration.Dapr
	an := map[string]string{daprEnabled: "true", daprAppID: app.DaprAppID()}
	if dc.AppPort > 0 {
		an[daprAppPort] = strconv.Itoa(dc.AppPort)
	}
	if dc.AppProtocol != "" {
		an[daprAppProtocol] = dc.AppProtocol
	}
	if dc.EnableAPILogging {
		an[daprAPILogging] = "true"
	}
	if dc.LogLevel != "" {
		an[daprLogLevel] = dc.LogLevel
	}
	// ACA gives the sizes in MB and KB.
	if dc.HTTPMaxRequestSize > 0 {
		an[daprMaxBodySize] = strconv.Itoa(dc.HTTPMaxRequestSize) + "Mi"
	}
	if dc.HTTPReadBufferSize > 0 {
		an[daprReadBuffer] = strconv.Itoa(dc.HTTPReadBufferSize) + "Ki"
	}
	return an
}

// container maps what app containers and init containers share.
func container(app *spec.ContainerApp, c *spec.BaseContainer, x *exporter) corev1.Container {
	k := corev1.Container{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args}
	for _, e := range c.Env {
		v := corev1.EnvVar{Name: e.Name, Value: e.Value}
		if e.SecretRef != "" {
			v.Value = ""
			v.ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: secretName(app.Name)},
				Key:                  e.SecretRef,
			}}
		}
		k.Env = append(k.Env, v)
	}
	if r := c.Resources; r != nil {
		list := corev1.ResourceList{}
		if r.CPU > 0 {
			list[corev1.ResourceCPU] = resource.MustParse(strconv.FormatFloat(r.CPU, 'f', -1, 64))
		}
		if r.Memory != "" {
			if q, err := resource.ParseQuantity(r.Memory); err == nil {
				list[corev1.ResourceMemory] = q
			} else {
				x.warnf("app %s: container %s: memory %q is not a Kubernetes quantity; it is left out", app.Name, c.Name, r.Memory)
			}
		}
		if len(list) > 0 {
			// ACA reserves and caps alike.
			k.Resources = corev1.ResourceRequirements{Requests: list, Limits: list.DeepCopy()}
		}
	}
	for _, m := range c.VolumeMounts {
		k.VolumeMounts = append(k.VolumeMounts, corev1.VolumeMount{Name: m.VolumeName, MountPath: m.MountPath, SubPath: m.SubPath})
	}
	return k
}

// probes sets the container's probes by their type.
func probes(k *corev1.Container, ps []*spec.Probe) {
	for _, p := range ps {
		kp := &corev1.Probe{
			InitialDelaySeconds:           deref(int32Ptr(p.InitialDelaySeconds)),
			PeriodSeconds:                 deref(int32Ptr(p.PeriodSeconds)),
			TimeoutSeconds:                deref(int32Ptr(p.TimeoutSeconds)),
			SuccessThreshold:              deref(int32Ptr(p.SuccessThreshold)),
			FailureThreshold:              deref(int32Ptr(p.FailureThreshold)),
			TerminationGracePeriodSeconds: p.TerminationGracePeriodSeconds,
		}
		if h := p.HTTPGet; h != nil {
			g := &corev1.HTTPGetAction{Path: h.Path, Port: intstr.FromInt32(int32(h.Port)), Host: h.Host, Scheme: corev1.URIScheme(h.Scheme)}
			for _, hd := range h.HTTPHeaders {
				g.HTTPHeaders = append(g.HTTPHeaders, corev1.HTTPHeader{Name: hd.Name, Value: hd.Value})
			}
			kp.HTTPGet = g
		}
		if s := p.TCPSocket; s != nil {
			kp.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(s.Port)), Host: s.Host}
		}
		switch p.Type {
		case "Liveness":
			k.LivenessProbe = kp
		case "Readiness":
			k.ReadinessProbe = kp
		case "Startup":
			k.StartupProbe = kp
		}
	}
}

// volumes maps the template's volumes: EmptyDir as it is, Secret from the
// app's Secret; an Azure Files share becomes an emptyDir with a warning.
func (x *exporter) volumes(app *spec.ContainerApp) []corev1.Volume {
	var vs []corev1.Volume
	for _, v := range app.Properties.Template.Volumes {
		kv := corev1.Volume{Name: v.Name}
		switch v.StorageType {
		case "Secret":
			s := &corev1.SecretVolumeSource{SecretName: secretName(app.Name)}
			for _, it := range v.Secrets {
				s.Items = append(s.Items, corev1.KeyToPath{Key: it.SecretRef, Path: cmp.Or(it.Path, it.SecretRef)})
			}
			kv.Secret = s
		case "AzureFile", "NfsAzureFile":
			x.warnf("app %s: volume %s is an Azure Files share (%s); it is exported as an emptyDir: replace it with a PersistentVolumeClaim", app.Name, v.Name, v.StorageName)
			fallthrough
		default:
			kv.EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
		vs = append(vs, kv)
	}
	return vs
}

func ptr[T any](v T) *T { return &v }

// int32Ptr narrows an optional int; ACA's values are small.
func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	return ptr(int32(*p))
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
