package edge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/routing"
)

func TestSplitHost(t *testing.T) {
	tests := []struct {
		name string
		in   string
		host string
		port string
	}{
		{name: "bare name", in: "frontend", host: "frontend"},
		{name: "name and port", in: "frontend.localhost:8080", host: "frontend.localhost", port: "8080"},
		{name: "upper case", in: "FrontEnd.LocalHost:8080", host: "frontend.localhost", port: "8080"},
		{name: "trailing dot", in: "frontend.localhost.", host: "frontend.localhost"},
		{name: "trailing dot and port", in: "frontend.localhost.:80", host: "frontend.localhost", port: "80"},
		{name: "ipv4 and port", in: "127.0.0.1:9000", host: "127.0.0.1", port: "9000"},
		{name: "ipv6 bracketed with port", in: "[::1]:9000", host: "::1", port: "9000"},
		{name: "ipv6 bracketed", in: "[::1]", host: "::1"},
		{name: "empty", in: "", host: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port := splitHost(tt.in)
			if diff := cmp.Diff([2]string{tt.host, tt.port}, [2]string{host, port}); diff != "" {
				t.Errorf("splitHost(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// routeTable is an environment with one app of every kind.
func routeTable() *routing.Table {
	ep := func(app string) []routing.Endpoint {
		return []routing.Endpoint{{App: app, Replica: app + "-1", Addr: "127.0.0.1:1"}}
	}
	return routing.NewTable([]*routing.App{
		{Name: "web", Ingress: &routing.Ingress{External: true, TargetPort: 3000}, Endpoints: ep("web")},
		{Name: "api", Ingress: &routing.Ingress{External: false, TargetPort: 8000}, Endpoints: ep("api")},
		{Name: "worker", Endpoints: ep("worker")},
		{Name: "starting", Ingress: &routing.Ingress{External: true, TargetPort: 80}},
		{Name: "cold", Ingress: &routing.Ingress{External: false}},
		{Name: "shop", Ingress: &routing.Ingress{External: true, TargetPort: 80, CustomDomains: []string{"shop.example.com"}}, Endpoints: ep("shop")},
		{Name: "db", Ingress: &routing.Ingress{External: true, Transport: routing.TransportTCP, TargetPort: 5432, ExposedPort: 15432}, Endpoints: ep("db")},
	})
}

// routeResult is the part of a decision the tests compare.
type routeResult struct {
	Verdict string
	App     string
	Host    string
	Port    string
}

func summarise(d decision) routeResult {
	r := routeResult{Verdict: d.verdict.String(), Host: d.host, Port: d.port}
	if d.app != nil {
		r.App = d.app.Name
	}
	return r
}

func TestPublicRoute(t *testing.T) {
	tests := []struct {
		name   string
		domain string
		host   string
		want   routeResult
		reason string // substring of the 404 body
	}{
		{name: "external app", host: "web.localhost:8080", want: routeResult{"toApp", "web", "web.localhost", "8080"}},
		{name: "external app any port", host: "web.localhost:9999", want: routeResult{"toApp", "web", "web.localhost", "9999"}},
		{name: "external app no port", host: "web.localhost", want: routeResult{"toApp", "web", "web.localhost", ""}},
		{name: "case insensitive", host: "WEB.LocalHost:8080", want: routeResult{"toApp", "web", "web.localhost", "8080"}},
		{name: "trailing dot", host: "web.localhost.:8080", want: routeResult{"toApp", "web", "web.localhost", "8080"}},
		{name: "internal app", host: "api.localhost:8080", want: routeResult{"notFound", "", "api.localhost", "8080"}, reason: "internal ingress only"},
		{name: "internal name", host: "api.internal.localhost:8080", want: routeResult{"notFound", "", "api.internal.localhost", "8080"}, reason: "internal name"},
		{name: "external app by internal name", host: "web.internal.localhost", want: routeResult{"notFound", "", "web.internal.localhost", ""}, reason: "internal name"},
		{name: "ingress disabled", host: "worker.localhost", want: routeResult{"notFound", "", "worker.localhost", ""}, reason: "ingress disabled"},
		{name: "unknown app", host: "nope.localhost:8080", want: routeResult{"notFound", "", "nope.localhost", "8080"}, reason: `no app named "nope"`},
		{name: "other domain", host: "web.example.com", want: routeResult{"notFound", "", "web.example.com", ""}, reason: "no app is served"},
		{name: "nested label", host: "a.web.localhost", want: routeResult{"notFound", "", "a.web.localhost", ""}, reason: "no app is served"},
		{name: "bare app name", host: "web", want: routeResult{"notFound", "", "web", ""}, reason: "no app is served"},
		{name: "no ready replica", host: "starting.localhost", want: routeResult{"noReplica", "starting", "starting.localhost", ""}},
		{name: "bare localhost", host: "localhost:8080", want: routeResult{"listing", "", "localhost", "8080"}},
		{name: "bare localhost upper case", host: "LOCALHOST", want: routeResult{"listing", "", "localhost", ""}},
		{name: "loopback ip", host: "127.0.0.1:8080", want: routeResult{"listing", "", "127.0.0.1", "8080"}},
		{name: "ipv6 loopback", host: "[::1]:8080", want: routeResult{"listing", "", "::1", "8080"}},
		{name: "custom domain app", domain: "env.test", host: "web.env.test", want: routeResult{"toApp", "web", "web.env.test", ""}},
		{name: "custom domain bare", domain: "env.test", host: "env.test:80", want: routeResult{"listing", "", "env.test", "80"}},
		{name: "app's custom domain", host: "Shop.Example.com:8443", want: routeResult{"toApp", "shop", "shop.example.com", "8443"}},
		{name: "tcp app over http", host: "db.localhost", want: routeResult{"notFound", "", "db.localhost", ""}, reason: "connect to port 15432"},
		{name: "custom domain ignores localhost names", domain: "env.test", host: "web.localhost", want: routeResult{"notFound", "", "web.localhost", ""}, reason: "no app is served"},
	}
	table := routeTable()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domain := tt.domain
			if domain == "" {
				domain = DefaultDomain
			}
			d := publicRoute(table, domain, tt.host)
			if diff := cmp.Diff(tt.want, summarise(d)); diff != "" {
				t.Errorf("publicRoute(%q) (-want +got):\n%s", tt.host, diff)
			}
			if !strings.Contains(d.reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", d.reason, tt.reason)
			}
		})
	}
}

func TestInternalRoute(t *testing.T) {
	tests := []struct {
		name   string
		domain string
		host   string
		want   routeResult
		reason string
	}{
		{name: "short name", host: "api", want: routeResult{"toApp", "api", "api", ""}},
		{name: "short name port 80", host: "api:80", want: routeResult{"toApp", "api", "api", "80"}},
		{name: "short name target port", host: "api:8000", want: routeResult{"toApp", "api", "api", "8000"}},
		{name: "short name HTTPS port", host: "api:443", want: routeResult{"toApp", "api", "api", "443"}},
		{name: "internal name HTTPS port", host: "api.internal.localhost:443", want: routeResult{"toApp", "api", "api.internal.localhost", "443"}},
		{name: "short name other port", host: "api:9000", want: routeResult{"notFound", "", "api", "9000"}, reason: "does not expose port 9000"},
		{name: "short name upper case", host: "API", want: routeResult{"toApp", "api", "api", ""}},
		{name: "internal name", host: "api.internal.localhost", want: routeResult{"toApp", "api", "api.internal.localhost", ""}},
		{name: "domain name of internal app", host: "api.localhost:80", want: routeResult{"toApp", "api", "api.localhost", "80"}},
		{name: "domain name with edge port", host: "web.localhost:8080", want: routeResult{"toApp", "web", "web.localhost", "8080"}},
		{name: "internal name other port", host: "api.internal.localhost:9000", want: routeResult{"notFound", "", "api.internal.localhost", "9000"}, reason: "does not expose port 9000"},
		{name: "external app by short name", host: "web", want: routeResult{"toApp", "web", "web", ""}},
		{name: "external app by internal name", host: "web.internal.localhost", want: routeResult{"toApp", "web", "web.internal.localhost", ""}},
		{name: "ingress disabled", host: "worker", want: routeResult{"notFound", "", "worker", ""}, reason: "ingress disabled"},
		{name: "no ready replica", host: "cold", want: routeResult{"noReplica", "cold", "cold", ""}},
		{name: "target port unset", host: "cold:8000", want: routeResult{"notFound", "", "cold", "8000"}, reason: "does not expose port"},
		{name: "unknown under internal domain", host: "nope.internal.localhost", want: routeResult{"notFound", "", "nope.internal.localhost", ""}, reason: `no app named "nope"`},
		{name: "unknown under domain", host: "nope.localhost:8080", want: routeResult{"notFound", "", "nope.localhost", "8080"}, reason: `no app named "nope"`},
		{name: "unknown short name forwarded", host: "postgres:5432", want: routeResult{"forward", "", "postgres", "5432"}},
		{name: "localhost port forwarded", host: "localhost:4000", want: routeResult{"forward", "", "localhost", "4000"}},
		{name: "loopback ip forwarded", host: "127.0.0.1:4000", want: routeResult{"forward", "", "127.0.0.1", "4000"}},
		{name: "ipv6 forwarded", host: "[::1]:4000", want: routeResult{"forward", "", "::1", "4000"}},
		{name: "outside host forwarded", host: "example.com", want: routeResult{"forward", "", "example.com", ""}},
		{name: "no host", host: "", want: routeResult{"notFound", "", "", ""}, reason: "no host"},
		{name: "custom domain", domain: "env.test", host: "api.internal.env.test", want: routeResult{"toApp", "api", "api.internal.env.test", ""}},
		{name: "app's custom domain", host: "shop.example.com:443", want: routeResult{"toApp", "shop", "shop.example.com", "443"}},
		{name: "tcp app by exposed port", host: "db:15432", want: routeResult{"toApp", "db", "db", "15432"}},
		{name: "tcp app by target port", host: "db:5432", want: routeResult{"notFound", "", "db", "5432"}, reason: "connect to db:15432"},
		{name: "tcp app without port", host: "db", want: routeResult{"notFound", "", "db", ""}, reason: "transport tcp"},
		{name: "custom domain forwards localhost names", domain: "env.test", host: "api.localhost", want: routeResult{"forward", "", "api.localhost", ""}},
	}
	table := routeTable()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domain := tt.domain
			if domain == "" {
				domain = DefaultDomain
			}
			d := internalRoute(table, domain, tt.host)
			if diff := cmp.Diff(tt.want, summarise(d)); diff != "" {
				t.Errorf("internalRoute(%q) (-want +got):\n%s", tt.host, diff)
			}
			if !strings.Contains(d.reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", d.reason, tt.reason)
			}
		})
	}
}

// FuzzPublicRoute checks, for any Host a client may send, that the public
// edge routes only to apps with external HTTP ingress (an internal app must
// answer 404 from outside, whatever the spelling of its name), and that the
// host it reports is normalised.
func FuzzPublicRoute(f *testing.F) {
	for _, h := range []string{
		"web.localhost:8080", "api.localhost", "API.LOCALHOST.", "api.internal.localhost", "worker.localhost",
		"shop.example.com", "db.localhost:15432", "localhost", "[::1]:80", "api--1.localhost", "api---x.localhost",
		"web.localhost.:80", "a.api.localhost", "api.localhost:", ":80", "api%2elocalhost", "api.localhost\x00",
	} {
		f.Add(h, "")
		f.Add(h, "env.test")
	}
	table := routeTable()
	f.Fuzz(func(t *testing.T, host, domain string) {
		if domain == "" {
			domain = DefaultDomain
		}
		d := publicRoute(table, domain, host)
		if d.verdict == toApp || d.verdict == noReplica {
			in := d.app.Ingress
			if in == nil || !in.External || in.IsTCP() {
				t.Fatalf("Host %q (domain %q) reached app %q, whose ingress is %+v", host, domain, d.app.Name, in)
			}
		}
		if d.host != strings.ToLower(d.host) || strings.HasSuffix(d.host, ".") && d.host != "." {
			t.Fatalf("Host %q gave the host %q, not normalised", host, d.host)
		}
	})
}
