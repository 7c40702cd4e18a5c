package control

import (
	"cmp"
	"crypto/tls"
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
		TargetHTTPS:   strings.EqualFold(in.TargetPortHTTPScheme, "https"),
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
	if r.Transport == routing.TransportTCP {
		// ACA's default: the port callers use is the one the app listens on.
		r.ExposedPort = cmp.Or(in.ExposedPort, in.TargetPort)
	}
	for _, m := range in.AdditionalPortMappings {
		r.AdditionalPorts = append(r.AdditionalPorts, routing.PortMapping{
			External: m.External, TargetPort: m.TargetPort, ExposedPort: cmp.Or(m.ExposedPort, m.TargetPort),
		})
	}
	for _, d := range in.CustomDomains {
		r.CustomDomains = append(r.CustomDomains, strings.TrimSuffix(strings.ToLower(d.Name), "."))
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

// customDomainCerts are the certificates of the environment's custom
// domains with bindingType SniEnabled: the environment file's certificate
// the binding's certificateId names, or nil (issue one from the CA) when
// the file gives none. A domain bound without SNI is routed but served with
// the default certificate.
func customDomainCerts(env *spec.Environment) (map[string]*tls.Certificate, error) {
	out := map[string]*tls.Certificate{}
	for _, entry := range env.Apps {
		in := entry.App.Properties.Configuration.Ingress
		if in == nil {
			continue
		}
		for _, d := range in.CustomDomains {
			if !strings.EqualFold(d.BindingType, "SniEnabled") {
				continue
			}
			name := strings.TrimSuffix(strings.ToLower(d.Name), ".")
			out[name] = nil
			c, ok := env.Certificate(d.CertificateID)
			if !ok {
				continue
			}
			pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("app %s: custom domain %s: certificate %s: %w", entry.App.Name, d.Name, c.Name, err)
			}
			out[name] = &pair
		}
	}
	return out, nil
}
