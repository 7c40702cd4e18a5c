package control

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
)

func TestIngressRoute(t *testing.T) {
	tests := []struct {
		name    string
		in      spec.Ingress
		want    routing.Ingress
		wantErr string
	}{
		{
			name: "defaults",
			in:   spec.Ingress{External: true, TargetPort: 8080},
			want: routing.Ingress{External: true, TargetPort: 8080, Transport: "auto", ClientCert: routing.ClientCertIgnore},
		},
		{
			name: "every policy",
			in: spec.Ingress{
				TargetPort: 80, Transport: "http2", AllowInsecure: true, ClientCertificateMode: "require",
				StickySessions: &spec.StickySessions{Affinity: "sticky"},
				IPSecurityRestrictions: []spec.IPSecurityRestriction{
					{Name: "office", IPAddressRange: "203.0.113.0/24", Action: "Allow"},
					{Name: "home", IPAddressRange: "198.51.100.7", Action: "Allow"},
				},
				CORSPolicy: &spec.CORSPolicy{
					AllowedOrigins: []string{"https://a.example"}, AllowedMethods: []string{"GET"},
					AllowedHeaders: []string{"X-A"}, ExposeHeaders: []string{"X-B"}, MaxAge: 60, AllowCredentials: true,
				},
			},
			want: routing.Ingress{
				TargetPort: 80, Transport: "http2", AllowInsecure: true, ClientCert: routing.ClientCertRequire, Sticky: true,
				IPRules: &routing.IPRules{Allow: true, Ranges: []netip.Prefix{
					netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.7/32"),
				}},
				CORS: &routing.CORS{
					AllowedOrigins: []string{"https://a.example"}, AllowedMethods: []string{"GET"},
					AllowedHeaders: []string{"X-A"}, ExposeHeaders: []string{"X-B"}, MaxAge: 60, AllowCredentials: true,
				},
			},
		},
		{
			name: "deny list, host bits masked",
			in: spec.Ingress{TargetPort: 80, IPSecurityRestrictions: []spec.IPSecurityRestriction{
				{Name: "bad", IPAddressRange: "192.0.2.77/24", Action: "Deny"},
			}},
			want: routing.Ingress{TargetPort: 80, Transport: "auto", ClientCert: routing.ClientCertIgnore,
				IPRules: &routing.IPRules{Allow: false, Ranges: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}},
		},
		{
			name: "affinity none",
			in:   spec.Ingress{TargetPort: 80, StickySessions: &spec.StickySessions{Affinity: "none"}},
			want: routing.Ingress{TargetPort: 80, Transport: "auto", ClientCert: routing.ClientCertIgnore},
		},
		{
			name: "tcp, exposed port defaults to the target port",
			in:   spec.Ingress{External: true, TargetPort: 5432, Transport: "tcp"},
			want: routing.Ingress{External: true, TargetPort: 5432, Transport: "tcp", ExposedPort: 5432, ClientCert: routing.ClientCertIgnore},
		},
		{
			name: "tcp with exposed port",
			in:   spec.Ingress{TargetPort: 5432, ExposedPort: 15432, Transport: "tcp"},
			want: routing.Ingress{TargetPort: 5432, Transport: "tcp", ExposedPort: 15432, ClientCert: routing.ClientCertIgnore},
		},
		{
			name: "additional ports and custom domains",
			in: spec.Ingress{TargetPort: 80,
				AdditionalPortMappings: []spec.IngressPortMapping{{External: true, TargetPort: 9000}, {TargetPort: 9100, ExposedPort: 19100}},
				CustomDomains:          []spec.CustomDomain{{Name: "Shop.Example.com", BindingType: "SniEnabled", CertificateID: "c"}},
			},
			want: routing.Ingress{TargetPort: 80, Transport: "auto", ClientCert: routing.ClientCertIgnore,
				AdditionalPorts: []routing.PortMapping{{External: true, TargetPort: 9000, ExposedPort: 9000}, {TargetPort: 9100, ExposedPort: 19100}},
				CustomDomains:   []string{"shop.example.com"},
			},
		},
		{
			name: "mixed actions",
			in: spec.Ingress{TargetPort: 80, IPSecurityRestrictions: []spec.IPSecurityRestriction{
				{Name: "a", IPAddressRange: "10.0.0.0/8", Action: "Allow"},
				{Name: "b", IPAddressRange: "10.1.0.0/16", Action: "Deny"},
			}},
			wantErr: "same action",
		},
		{
			name: "IPv6 range",
			in: spec.Ingress{TargetPort: 80, IPSecurityRestrictions: []spec.IPSecurityRestriction{
				{Name: "v6", IPAddressRange: "2001:db8::/32", Action: "Allow"},
			}},
			wantErr: "not an IPv4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ingressRoute(&tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("routing entry (-want +got):\n%s", diff)
			}
		})
	}
}
