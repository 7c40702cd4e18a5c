package kube

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cove-env/cove/internal/spec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Dapr's Component resource (dapr.io/v1alpha1), as Dapr's operator reads
// it.
type (
	Component struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              ComponentSpec  `json:"spec"`
		Auth              *ComponentAuth `json:"auth,omitempty"`
		Scopes            []string       `json:"scopes,omitempty"`
	}
	ComponentSpec struct {
		Type         string              `json:"type"`
		Version      string              `json:"version"`
		IgnoreErrors bool                `json:"ignoreErrors,omitempty"`
		InitTimeout  string              `json:"initTimeout,omitempty"`
		Metadata     []ComponentMetadata `json:"metadata,omitempty"`
	}
	// ComponentMetadata has exactly one of Value, SecretKeyRef and EnvRef;
	// Value is a pointer so that an empty value is still written.
	ComponentMetadata struct {
		Name         string        `json:"name"`
		Value        *string       `json:"value,omitempty"`
		SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
		EnvRef       string        `json:"envRef,omitempty"`
	}
	SecretKeyRef struct {
		Name string `json:"name"`
		Key  string `json:"key,omitempty"`
	}
	ComponentAuth struct {
		SecretStore string `json:"secretStore"`
	}
)

// kubernetesStore is the secret store Dapr's operator gives every
// namespace: the namespace's Secrets.
const kubernetesStore = "kubernetes"

// component is a Dapr Component in Dapr's form, whichever form its file
// used, and the Secret of an ACA component's own secrets.
func (x *exporter) component(c *spec.Component) []any {
	k := &Component{
		TypeMeta:   metav1.TypeMeta{APIVersion: "dapr.io/v1alpha1", Kind: "Component"},
		ObjectMeta: metav1.ObjectMeta{Name: c.Name, Namespace: cmp.Or(x.opts.Namespace, c.Namespace)},
		Spec:       ComponentSpec{Type: c.Type, Version: c.Version, IgnoreErrors: c.IgnoreErrors, InitTimeout: c.InitTimeout},
		Scopes:     c.Scopes,
	}
	store := c.SecretStore
	for _, m := range c.Metadata {
		km := ComponentMetadata{Name: m.Name, EnvRef: m.EnvRef}
		switch {
		case m.SecretRef != "" && c.SecretStore == "":
			// An ACA component's own secret, from the Secret made of them.
			km.SecretKeyRef = &SecretKeyRef{Name: secretName(c.Name), Key: m.SecretRef}
			store = kubernetesStore
		case m.SecretRef != "":
			km.SecretKeyRef = &SecretKeyRef{Name: m.SecretRef, Key: cmp.Or(m.SecretKey, m.SecretRef)}
		case m.EnvRef != "":
			x.warnf("component %s: metadata %s reads environment variable %s of the sidecar: set it in the daprd container (dapr.io/env)", c.Name, m.Name, m.EnvRef)
		default:
			km.Value = ptr(m.Value)
		}
		k.Spec.Metadata = append(k.Spec.Metadata, km)
	}
	if store != "" {
		k.Auth = &ComponentAuth{SecretStore: store}
	}
	if why := embedded(c); why != "" {
		x.warnf("component %s (%s): %s; it is exported as it is, but the cluster needs a real backend", c.Name, c.Type, why)
	}
	if len(c.ServiceBinds) > 0 {
		x.warnf("component %s: its dev service bindings are not exported", c.Name)
	}
	objs := []any{}
	if data := x.secretData("component "+c.Name, c.Secrets); len(data) > 0 {
		objs = append(objs, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: secretName(c.Name), Namespace: k.Namespace},
			Type:       corev1.SecretTypeOpaque,
			StringData: data,
		})
	}
	return append(objs, k)
}

// embedded says why a component has no meaning in a cluster: cove runs its
// backend in its own process, or it keeps its data on one machine or in
// one process. "" when it is a real backend.
func embedded(c *spec.Component) string {
	_, name, _ := strings.Cut(c.Type, ".")
	switch {
	case c.Type == "pubsub.jetstream" && !slices.ContainsFunc(c.Metadata, func(m spec.MetadataItem) bool {
		return strings.EqualFold(m.Name, "natsURL")
	}):
		return "without natsURL cove runs JetStream inside its own process; set natsURL to a JetStream server"
	case name == "sqlite":
		return "its SQLite database is a file of each pod's own"
	case name == "in-memory":
		return "each sidecar keeps its own data in memory"
	case strings.HasPrefix(c.Type, "secretstores.local."):
		return "it reads the machine's files or environment; use the kubernetes secret store"
	}
	return ""
}
