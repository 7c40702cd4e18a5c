package invoke

import "testing"

func TestAccessControlAllowed(t *testing.T) {
	allow, deny := true, false
	acl := &AccessControl{
		DefaultAllow: false,
		Policies: map[string]*AccessPolicy{
			"frontend": {TrustDomain: "public", Namespace: "default", DefaultAllow: &allow, Operations: []AccessOperation{
				{Name: "/admin/**", Verbs: []string{"*"}, Allow: false},
				{Name: "/admin/health", Verbs: []string{"GET"}, Allow: true},
				{Name: "/orders/*", Verbs: []string{"POST"}, Allow: false},
			}},
			"batch": {TrustDomain: "jobs", Namespace: "default", DefaultAllow: &deny, Operations: []AccessOperation{
				{Name: "/import", Verbs: []string{"PUT"}, Allow: true},
			}},
			"web": {TrustDomain: "public", Namespace: "default", DefaultAllow: &deny, Operations: []AccessOperation{
				{Name: "/echo/**", Verbs: []string{"GET"}, Allow: true},
			}},
		},
	}
	tests := []struct {
		name                 string
		caller, td, op, verb string
		grpc                 bool
		want                 bool
	}{
		{name: "unknown caller gets the global default", caller: "other", td: "public", op: "/x", verb: "GET", want: false},
		{name: "caller default", caller: "frontend", td: "public", op: "/catalog", verb: "GET", want: true},
		{name: "double star covers deeper paths", caller: "frontend", td: "public", op: "/admin/users/1", verb: "GET", want: false},
		{name: "literal beats double star", caller: "frontend", td: "public", op: "/admin/health", verb: "GET", want: true},
		{name: "literal with another verb falls to the caller default", caller: "frontend", td: "public", op: "/admin/health", verb: "POST", want: true},
		{name: "single star is one segment", caller: "frontend", td: "public", op: "/orders/1", verb: "POST", want: false},
		{name: "single star does not cover two", caller: "frontend", td: "public", op: "/orders/1/lines", verb: "POST", want: true},
		{name: "case and dot segments are normalised", caller: "frontend", td: "public", op: "ADMIN/./users/../users", verb: "get", want: false},
		{name: "escaped path is decoded", caller: "frontend", td: "public", op: "/admin%2Fusers", verb: "GET", want: false},
		{name: "other trust domain gets the global default", caller: "batch", td: "public", op: "/import", verb: "PUT", want: false},
		{name: "matching trust domain", caller: "batch", td: "jobs", op: "/import", verb: "PUT", want: true},
		{name: "gRPC call matches rules whatever their verbs", caller: "batch", td: "jobs", op: "import", grpc: true, want: true},
		{name: "path under an allowed prefix", caller: "web", td: "public", op: "/echo/a/b", verb: "GET", want: true},
		{name: "path parameter", caller: "web", td: "public", op: "/echo/a;v=1", verb: "GET", want: true},
		{name: "dot segment behind a path parameter", caller: "web", td: "public", op: "/echo/..;/other", verb: "GET", want: false},
		{name: "escaped dot segment behind a path parameter", caller: "web", td: "public", op: "/echo/%2e%2e;/other", verb: "GET", want: false},
		{name: "dot segment with a parameter", caller: "web", td: "public", op: "/echo/..;x=1/other", verb: "GET", want: false},
		{name: "deeper dot segment with a parameter stays under the prefix", caller: "web", td: "public", op: "/echo/a/..;/b", verb: "GET", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acl.Allowed(tt.caller, tt.td, "default", tt.op, tt.verb, !tt.grpc); got != tt.want {
				t.Errorf("Allowed(%s %s %s) = %v, want %v", tt.caller, tt.verb, tt.op, got, tt.want)
			}
		})
	}
	if !(*AccessControl)(nil).Allowed("x", "public", "default", "/", "GET", true) {
		t.Error("no access control must allow every call")
	}
}
