package invoke

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// AccessControl is a callee's access control list, Dapr's
// spec.accessControl in its runtime form.
type AccessControl struct {
	// DefaultAllow applies when no policy names the caller (Dapr's global
	// defaultAction).
	DefaultAllow bool
	// Policies by calling app id; Dapr keys them by app id and namespace,
	// and cove has one namespace.
	Policies map[string]*AccessPolicy
}

// AccessPolicy is the policy for one caller.
type AccessPolicy struct {
	TrustDomain string
	Namespace   string
	// DefaultAllow applies to the caller's operations no rule covers; nil
	// falls back to the list's default.
	DefaultAllow *bool
	Operations   []AccessOperation
}

// AccessOperation is one rule: a path pattern whose segments may be "*"
// (one segment) or "**" (any number, at the end), the verbs it covers
// ("*" for all), and whether they are allowed.
type AccessOperation struct {
	Name  string
	Verbs []string
	Allow bool
}

// DefaultTrustDomain is Dapr's trust domain when a configuration sets none.
const DefaultTrustDomain = "public"

// Allowed decides a call by caller (of trustDomain and namespace) to
// operation with verb; hasVerb is false for gRPC-only calls, which match
// rules whatever their verbs, as in Dapr.
func (a *AccessControl) Allowed(caller, trustDomain, namespace, operation, verb string, hasVerb bool) bool {
	if a == nil {
		return true
	}
	allow := a.DefaultAllow
	p, ok := a.Policies[caller]
	if !ok || p.TrustDomain != trustDomain || p.Namespace != namespace {
		return allow
	}
	if p.DefaultAllow != nil {
		allow = *p.DefaultAllow
	}
	op := normalizeOperation(operation, hasVerb)
	if !p.allowed(op, verb, hasVerb, allow) {
		return false
	}
	// daprd matches the path as it is, where "..;" is no dot segment. An
	// app framework that drops ";" path parameters before it resolves dot
	// segments (Tomcat, Spring) serves /echo/..;/other as /other, so the
	// call must also be allowed as such a framework reads it.
	if strings.Contains(operation, ";") {
		return p.allowed(withoutPathParams(op), verb, hasVerb, allow)
	}
	return true
}

// withoutPathParams is a normalized operation with the ";" parameters of
// its segments removed and its dot segments resolved again.
func withoutPathParams(op string) string {
	segs := strings.Split(op, "/")
	for i, seg := range segs {
		segs[i], _, _ = strings.Cut(seg, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

// allowed decides op (normalized) with verb by p's rules, allow where no
// rule covers it.
func (p *AccessPolicy) allowed(op, verb string, hasVerb, allow bool) bool {
	best, bestScore := -1, -1
	for i, rule := range p.Operations {
		if s := matchOperation(normalizeOperation(rule.Name, hasVerb), op); s > bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return allow
	}
	rule := p.Operations[best]
	if !hasVerb {
		return rule.Allow
	}
	for _, v := range rule.Verbs {
		if v == "*" || strings.EqualFold(v, verb) {
			return rule.Allow
		}
	}
	return allow
}

// normalizeOperation cleans a path as daprd does before matching: decoded,
// one leading slash, no dot segments or repeated slashes; lower case for
// HTTP, whose operations match without regard to case.
func normalizeOperation(op string, lower bool) string {
	if u, err := url.PathUnescape(op); err == nil {
		op = u
	}
	op = path.Clean("/" + op)
	if lower {
		op = strings.ToLower(op)
	}
	return op
}

// matchOperation scores how well pattern matches op: -1 for no match, and
// higher for more literal segments, so the most specific rule wins.
func matchOperation(pattern, op string) int {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	os := strings.Split(strings.Trim(op, "/"), "/")
	score := 0
	for i, seg := range ps {
		if seg == "**" {
			return score
		}
		if i >= len(os) {
			return -1
		}
		switch seg {
		case "*":
		case os[i]:
			score += 2
		default:
			return -1
		}
	}
	if len(ps) != len(os) {
		return -1
	}
	return score + 1
}

// authorize applies callee's access control to a call from caller.
func (i *Invoker) authorize(pol Policies, callee *AppSettings, caller, operation, verb string, hasVerb bool) error {
	if callee.Access == nil {
		return nil
	}
	td := DefaultTrustDomain
	if c := pol.App(caller); c != nil && c.TrustDomain != "" {
		td = c.TrustDomain
	}
	if callee.Access.Allowed(caller, td, i.namespace, operation, verb, hasVerb) {
		return nil
	}
	if !hasVerb {
		verb = "NONE"
	}
	return status.Error(codes.PermissionDenied, fmt.Sprintf("access control policy has denied access to appid: %s operation: %s verb: %s",
		caller, strings.TrimPrefix(normalizeOperation(operation, false), "/"), verb))
}
