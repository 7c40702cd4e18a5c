package resources_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

func TestResolveMetadata(t *testing.T) {
	t.Setenv("COVE_RESOURCES_TEST_PASSWORD", "from-env")
	tests := []struct {
		name    string
		in      spec.Component
		want    map[string]string
		wantErr string
	}{
		{name: "values, secrets and envRef", in: spec.Component{
			Format:   spec.FormatACA,
			Secrets:  []spec.ComponentSecret{{Name: "pw", Value: "s3cret"}},
			Metadata: []spec.MetadataItem{{Name: "host", Value: "h"}, {Name: "password", SecretRef: "pw"}, {Name: "user", EnvRef: "COVE_RESOURCES_TEST_PASSWORD"}},
		}, want: map[string]string{"host": "h", "password": "s3cret", "user": "from-env"}},
		{name: "unknown secret", in: spec.Component{Format: spec.FormatACA,
			Metadata: []spec.MetadataItem{{Name: "password", SecretRef: "nope"}}}, wantErr: `secretRef "nope" names no secret`},
		{name: "secret without value", in: spec.Component{Format: spec.FormatACA,
			Secrets:  []spec.ComponentSecret{{Name: "pw", KeyVaultURL: "https://v"}},
			Metadata: []spec.MetadataItem{{Name: "password", SecretRef: "pw"}}}, wantErr: "has no value"},
		{name: "dapr secret store", in: spec.Component{Format: spec.FormatDapr,
			Metadata: []spec.MetadataItem{{Name: "password", SecretRef: "pw"}}}, wantErr: "auth.secretStore names none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resources.ResolveMetadata(&tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInitTimeout(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{name: "unset", in: "", want: resources.DefaultInitTimeout},
		{name: "set", in: "250ms", want: 250 * time.Millisecond},
		{name: "invalid", in: "soon", want: resources.DefaultInitTimeout},
		{name: "negative", in: "-1s", want: resources.DefaultInitTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resources.InitTimeout(&spec.Component{InitTimeout: tt.in}); got != tt.want {
				t.Errorf("InitTimeout(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestAccessControlDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   spec.AccessControl
		want bool // the global default
	}{
		{name: "explicit allow", in: spec.AccessControl{DefaultAction: "allow", Policies: []spec.AccessPolicy{{AppID: "a"}}}, want: true},
		{name: "unset with policies denies", in: spec.AccessControl{Policies: []spec.AccessPolicy{{AppID: "a"}}}, want: false},
		{name: "unset without policies allows", in: spec.AccessControl{TrustDomain: "public"}, want: true},
		{name: "explicit deny", in: spec.AccessControl{DefaultAction: "deny"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resources.AccessControl(&tt.in).DefaultAllow; got != tt.want {
				t.Errorf("default allow = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAccessControlNil(t *testing.T) {
	if got := resources.AccessControl(nil); got != nil {
		t.Errorf("AccessControl(nil) = %+v, want nil (no access control)", got)
	}
}

func TestTraceSampling(t *testing.T) {
	tests := []struct {
		name string
		in   *spec.DaprConfiguration
		want *float64
	}{
		{name: "no configuration", in: nil},
		{name: "no tracing", in: &spec.DaprConfiguration{}},
		{name: "rate", in: &spec.DaprConfiguration{Tracing: &spec.TracingSpec{SamplingRate: "0.5"}}, want: new(0.5)},
		{name: "not a number", in: &spec.DaprConfiguration{Tracing: &spec.TracingSpec{SamplingRate: "half"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, resources.TraceSampling(tt.in)); diff != "" {
				t.Errorf("sampling (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAPILogging(t *testing.T) {
	on, off := true, false
	cfg := &spec.DaprConfiguration{Logging: &spec.LoggingSpec{APILogging: &spec.APILoggingSpec{Enabled: true, OmitHealthChecks: true}}}
	tests := []struct {
		name string
		in   *spec.DaprConfiguration
		own  *bool
		want spec.APILoggingSpec
	}{
		{name: "nothing", want: spec.APILoggingSpec{}},
		{name: "the sidecar's own setting", own: &on, want: spec.APILoggingSpec{Enabled: true}},
		{name: "the configuration's default", in: cfg, want: spec.APILoggingSpec{Enabled: true, OmitHealthChecks: true}},
		{name: "turned off by the sidecar", in: cfg, own: &off, want: spec.APILoggingSpec{OmitHealthChecks: true}},
		{name: "a configuration without logging", in: &spec.DaprConfiguration{}, own: &on, want: spec.APILoggingSpec{Enabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, resources.APILogging(tt.in, tt.own)); diff != "" {
				t.Errorf("API logging (-want +got):\n%s", diff)
			}
		})
	}
}
