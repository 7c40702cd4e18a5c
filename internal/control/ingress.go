package control

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cove-env/cove/internal/routing"
	"github.com/cove-env/cove/internal/spec"
)

// ingressRoute translates an app's ACA ingress into the routing entry the
// edge enforces. The spec package has validated the fields; the errors here
// are for values it cannot have seen, such as an API caller's.
func ingressRoute(in *spec.Ingress) (*routing.Ingress, error) {
	r := &routing.Ingress{
		External:      in.External,
		TargetPort:    in.TargetPort,
		Transport:     strings.ToLower(in.Transport),
		AllowInsecure: in.AllowInsecure,
		ClientCert:    routing.ClientCertIgnore,
	}
	if r.Transport == "" {
		r.Transport = routing.TransportAuto
	}
	if m := in.ClientCertificateMode; m != "" {
		r.ClientCert = routing.ClientCertMode(strings.ToLower(m))
	}
	rules, err := ipRules(in.IPSecurityRestrictions)
	if err != nil {
		return nil, err
	}
	r.IPRules = rules
	if s := in.StickySessions; s != nil {
		r.Sticky = strings.EqualFold(s.Affinity, "sticky")
	}
	if c := in.CORSPolicy; c != nil {
		r.CORS = &routing.CORS{
			AllowedOrigins:   c.AllowedOrigins,
			AllowedMethods:   c.AllowedMethods,
			AllowedHeaders:   c.AllowedHeaders,
			ExposeHeaders:    c.ExposeHeaders,
			MaxAge:           c.MaxAge,
			AllowCredentials: c.AllowCredentials,
		}
	}
	return r, nil
}

// ipRules translates ipSecurityRestrictions: all Allow or all Deny, each an
// IPv4 range in CIDR notation (a bare address is a /32).
func ipRules(rules []spec.IPSecurityRestriction) (*routing.IPRules, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	out := &routing.IPRules{Allow: strings.EqualFold(rules[0].Action, "Allow")}
	for _, rule := range rules {
		if allow := strings.EqualFold(rule.Action, "Allow"); allow != out.Allow {
			return nil, fmt.Errorf("ipSecurityRestrictions: rule %q is %s but rule %q is %s; all rules must have the same action",
				rule.Name, rule.Action, rules[0].Name, rules[0].Action)
		}
		p, err := parseRange(rule.IPAddressRange)
		if err != nil {
			return nil, fmt.Errorf("ipSecurityRestrictions: rule %q: %w", rule.Name, err)
		}
		out.Ranges = append(out.Ranges, p)
	}
	return out, nil
}

func parseRange(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address or CIDR range", s)
		}
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 CIDR range", s)
	}
	return p.Masked(), nil
}
