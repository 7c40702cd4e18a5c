package control

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
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
				TargetPortHTTPScheme: "https",
				StickySessions:       &spec.StickySessions{Affinity: "sticky"},
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
				TargetHTTPS: true,
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

func TestExtraPorts(t *testing.T) {
	in := &routing.Ingress{TargetPort: 8000, AdditionalPorts: []routing.PortMapping{{TargetPort: 9100}, {TargetPort: 9000}}}
	ports, err := (&portAllocator{}).extraPorts(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 2 || ports[9000] == 0 || ports[9100] == 0 || ports[9000] == ports[9100] {
		t.Fatalf("extraPorts = %v, want a distinct port per target", ports)
	}
	env := extraPortEnv(map[int]int{9100: 2, 9000: 1})
	if diff := cmp.Diff([]string{"PORT_9000=1", "PORT_9100=2"}, env); diff != "" {
		t.Errorf("extraPortEnv (-want +got):\n%s", diff)
	}
	probes := []supervisor.Probe{
		{Type: supervisor.Readiness, TCPSocket: &supervisor.TCPSocketAction{Port: 9000}},
		{Type: supervisor.Liveness, HTTPGet: &supervisor.HTTPGetAction{Path: "/", Port: 9100}},
		{Type: supervisor.Startup, TCPSocket: &supervisor.TCPSocketAction{Port: 7777}},
	}
	got := remapExtraPorts(probes, map[int]int{9000: 41000, 9100: 41100})
	if got[0].TCPSocket.Port != 41000 || got[1].HTTPGet.Port != 41100 || got[2].TCPSocket.Port != 7777 {
		t.Errorf("remapped probe ports: %d %d %d, want 41000 41100 7777", got[0].TCPSocket.Port, got[1].HTTPGet.Port, got[2].TCPSocket.Port)
	}
}
