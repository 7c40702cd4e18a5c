package kube

import (
	"maps"
	"strconv"

	"github.com/cove-env/cove/internal/spec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KEDA's objects, as far as an export writes them (keda.sh/v1alpha1).
type (
	// ScaledObject scales a Deployment on its triggers.
	ScaledObject struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              ScaledObjectSpec `json:"spec"`
	}
	ScaledObjectSpec struct {
		ScaleTargetRef  ScaleTarget `json:"scaleTargetRef"`
		MinReplicaCount *int32      `json:"minReplicaCount"`
		MaxReplicaCount *int32      `json:"maxReplicaCount"`
		CooldownPeriod  *int32      `json:"cooldownPeriod,omitempty"`
		PollingInterval *int32      `json:"pollingInterval,omitempty"`
		Triggers        []Trigger   `json:"triggers"`
	}
	// ScaleTarget names the Deployment scaled.
	ScaleTarget struct {
		Name string `json:"name"`
	}
	// Trigger is one KEDA scaler.
	Trigger struct {
		Type              string            `json:"type"`
		Name              string            `json:"name,omitempty"`
		MetricType        string            `json:"metricType,omitempty"`
		Metadata          map[string]string `json:"metadata"`
		AuthenticationRef *AuthRef          `json:"authenticationRef,omitempty"`
	}
	// AuthRef names a TriggerAuthentication.
	AuthRef struct {
		Name string `json:"name"`
	}
	// TriggerAuthentication passes Secret values to a trigger's parameters.
	TriggerAuthentication struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              TriggerAuthSpec `json:"spec"`
	}
	TriggerAuthSpec struct {
		SecretTargetRef []SecretTarget `json:"secretTargetRef"`
	}
	SecretTarget struct {
		Parameter string `json:"parameter"`
		Name      string `json:"name"`
		Key       string `json:"key"`
	}
)

const kedaAPI = "keda.sh/v1alpha1"

// scaling is the app's ScaledObject and the TriggerAuthentications its
// triggers use; none when no rule has a KEDA scaler.
func (x *exporter) scaling(app *spec.ContainerApp) []any {
	s := app.Properties.Template.Scale
	if s == nil || len(s.Rules) == 0 {
		return nil
	}
	var auths []any
	so := &ScaledObject{
		TypeMeta:   metav1.TypeMeta{APIVersion: kedaAPI, Kind: "ScaledObject"},
		ObjectMeta: x.meta(app.Name, app.Name),
		Spec: ScaledObjectSpec{
			ScaleTargetRef:  ScaleTarget{Name: app.Name},
			MinReplicaCount: ptr(int32(app.MinReplicas())),
			MaxReplicaCount: ptr(int32(app.MaxReplicas())),
			CooldownPeriod:  int32Ptr(s.CooldownPeriod),
			PollingInterval: int32Ptr(s.PollingInterval),
		},
	}
	for _, r := range s.Rules {
		t, auth, identity := x.trigger(app, r)
		if t == nil {
			continue
		}
		if identity != "" {
			x.warnf("app %s: scale rule %s authenticates with managed identity %s, which is not exported: add a KEDA TriggerAuthentication with workload identity", app.Name, r.Name, identity)
		}
		if len(auth) > 0 {
			ta := &TriggerAuthentication{
				TypeMeta:   metav1.TypeMeta{APIVersion: kedaAPI, Kind: "TriggerAuthentication"},
				ObjectMeta: x.meta(app.Name+"-"+r.Name, app.Name),
			}
			for _, a := range auth {
				ta.Spec.SecretTargetRef = append(ta.Spec.SecretTargetRef, SecretTarget{Parameter: a.TriggerParameter, Name: secretName(app.Name), Key: a.SecretRef})
			}
			t.AuthenticationRef = &AuthRef{Name: ta.Name}
			auths = append(auths, ta)
		}
		so.Spec.Triggers = append(so.Spec.Triggers, *t)
	}
	if len(so.Spec.Triggers) == 0 {
		return nil
	}
	return append(auths, so)
}

// trigger is the KEDA trigger of an ACA scale rule, with its auth and
// identity; nil when KEDA has no scaler for it.
func (x *exporter) trigger(app *spec.ContainerApp, r spec.ScaleRule) (*Trigger, []spec.ScaleRuleAuth, string) {
	switch {
	case r.Custom != nil:
		t := &Trigger{Type: r.Custom.Type, Name: r.Name, Metadata: maps.Clone(r.Custom.Metadata)}
		if t.Metadata == nil {
			t.Metadata = map[string]string{}
		}
		// ACA writes cpu's and memory's metric type in metadata; KEDA
		// takes it beside.
		if mt, ok := t.Metadata["type"]; ok && (t.Type == "cpu" || t.Type == "memory") {
			t.MetricType = mt
			delete(t.Metadata, "type")
		}
		return t, r.Custom.Auth, r.Custom.Identity
	case r.AzureQueue != nil:
		q := r.AzureQueue
		md := map[string]string{"queueName": q.QueueName, "queueLength": strconv.Itoa(q.QueueLength)}
		if q.AccountName != "" {
			md["accountName"] = q.AccountName
		}
		return &Trigger{Type: "azure-queue", Name: r.Name, Metadata: md}, q.Auth, q.Identity
	case r.HTTP != nil:
		x.warnf("app %s: http scale rule %s is not exported: KEDA scales on HTTP traffic only with its HTTP add-on (an HTTPScaledObject)", app.Name, r.Name)
	case r.TCP != nil:
		x.warnf("app %s: tcp scale rule %s is not exported: KEDA has no scaler for concurrent TCP connections", app.Name, r.Name)
	}
	return nil, nil, ""
}
