package routing

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTCPTarget(t *testing.T) {
	in := &Ingress{
		External: true, Transport: TransportTCP, TargetPort: 5432, ExposedPort: 15432,
		AdditionalPorts: []PortMapping{
			{External: true, TargetPort: 9000, ExposedPort: 19000},
			{External: false, TargetPort: 9100, ExposedPort: 9100},
		},
	}
	internalTCP := &Ingress{Transport: TransportTCP, TargetPort: 6000, ExposedPort: 6000}
	httpApp := &Ingress{External: true, TargetPort: 8080, AdditionalPorts: []PortMapping{{External: true, TargetPort: 9000, ExposedPort: 9000}}}
	tests := []struct {
		name    string
		in      *Ingress
		exposed int
		inside  bool
		want    int
		wantOK  bool
	}{
		{name: "main exposed port from outside", in: in, exposed: 15432, want: 5432, wantOK: true},
		{name: "main target port is not exposed", in: in, exposed: 5432},
		{name: "external additional port from outside", in: in, exposed: 19000, want: 9000, wantOK: true},
		{name: "internal additional port from outside", in: in, exposed: 9100},
		{name: "internal additional port from inside", in: in, exposed: 9100, inside: true, want: 9100, wantOK: true},
		{name: "internal tcp app from outside", in: internalTCP, exposed: 6000},
		{name: "internal tcp app from inside", in: internalTCP, exposed: 6000, inside: true, want: 6000, wantOK: true},
		{name: "http app's main port is not tcp", in: httpApp, exposed: 8080, inside: true},
		{name: "http app's additional port", in: httpApp, exposed: 9000, want: 9000, wantOK: true},
		{name: "no ingress", in: nil, exposed: 9000, inside: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.in.TCPTarget(tt.exposed, tt.inside)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("TCPTarget(%d, %t) = %d, %t; want %d, %t", tt.exposed, tt.inside, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if diff := cmp.Diff([]int{15432, 19000}, in.ExternalTCPPorts()); diff != "" {
		t.Errorf("ExternalTCPPorts (-want +got):\n%s", diff)
	}
	if got := internalTCP.ExternalTCPPorts(); len(got) != 0 {
		t.Errorf("internal tcp app's ExternalTCPPorts = %v, want none", got)
	}
}

func TestPickLeastLoaded(t *testing.T) {
	app := &App{Name: "web", Endpoints: []Endpoint{{Replica: "a"}, {Replica: "b"}, {Replica: "c"}}}
	src := &Source{}
	src.Store(NewTable([]*App{app}))
	pick := func() string {
		ep, ok := app.PickLeastLoaded()
		if !ok {
			t.Fatal("no endpoint")
		}
		return ep.Replica
	}
	// Idle replicas share requests in turn.
	var got []string
	for range 6 {
		got = append(got, pick())
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c"}, got); diff != "" {
		t.Errorf("idle picks (-want +got):\n%s", diff)
	}
	// Two requests stuck on a and one on b: c gets the next ones until it
	// is as loaded.
	a, _ := app.Endpoint("a")
	b, _ := app.Endpoint("b")
	doneA1, doneA2, doneB := a.Begin(), a.Begin(), b.Begin()
	if r := pick(); r != "c" {
		t.Errorf("with a=2 b=1 c=0 picked %s, want c", r)
	}
	c, _ := app.Endpoint("c")
	doneC := c.Begin()
	if r := pick(); r != "b" && r != "c" {
		t.Errorf("with a=2 b=1 c=1 picked %s, want b or c", r)
	}

	// A new table (a replica became ready) keeps the counts in flight.
	next := &App{Name: "web", Endpoints: []Endpoint{{Replica: "a"}, {Replica: "b"}, {Replica: "c"}, {Replica: "d"}}}
	src.Store(NewTable([]*App{next}))
	for _, ep := range next.Endpoints {
		want := map[string]int64{"a": 2, "b": 1, "c": 1, "d": 0}[ep.Replica]
		if ep.Outstanding() != want {
			t.Errorf("after the swap %s has %d outstanding, want %d", ep.Replica, ep.Outstanding(), want)
		}
	}
	doneA1()
	doneA1() // done is idempotent
	doneA2()
	doneB()
	doneC()
	for _, ep := range next.Endpoints {
		if ep.Outstanding() != 0 {
			t.Errorf("%s has %d outstanding after every request finished", ep.Replica, ep.Outstanding())
		}
	}
}

func TestCustomDomainIndex(t *testing.T) {
	tbl := NewTable([]*App{
		{Name: "b", Ingress: &Ingress{CustomDomains: []string{"shop.example.com", "b.example.com"}}},
		{Name: "a", Ingress: &Ingress{CustomDomains: []string{"shop.example.com"}}},
		{Name: "none"},
	})
	tests := []struct {
		name string
		host string
		want string
	}{
		{name: "claimed twice goes to the first by name", host: "shop.example.com", want: "a"},
		{name: "claimed once", host: "b.example.com", want: "b"},
		{name: "unknown", host: "c.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if a, ok := tbl.CustomDomain(tt.host); ok {
				got = a.Name
			}
			if got != tt.want {
				t.Errorf("CustomDomain(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	web := &App{Name: "web", Aliases: []string{"web--v2", "web---blue"}}
	// An alias never hides an app of that name.
	shadow := &App{Name: "api", Aliases: []string{"web"}}
	tbl := NewTable([]*App{web, shadow})
	tests := []struct {
		name string
		want *App
	}{
		{name: "web", want: web},
		{name: "web--v2", want: web},
		{name: "web---blue", want: web},
		{name: "api", want: shadow},
		{name: "web---green", want: nil},
	}
	for _, tc := range tests {
		got, ok := tbl.App(tc.name)
		if ok != (tc.want != nil) || got != tc.want {
			t.Errorf("App(%q) = %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
}
