package spec

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Value rules shared by the file kinds. Each check reports through the
// decoder so problems carry the field's position.

// enum checks that *val is one of allowed. ACA compares enum values without
// regard to case (`az containerapp show` prints "Auto" where the schema says
// "auto"), so any casing is accepted and rewritten to the schema's spelling.
func (d *decoder) enum(path string, val *string, allowed ...string) bool {
	if *val == "" {
		return true
	}
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }
	for _, a := range allowed {
		if norm(*val) == norm(a) {
			*val = a
			return true
		}
	}
	d.errorf(path, "%q is not one of %s", *val, strings.Join(allowed, ", "))
	return false
}

// port checks a port number written at path.
func (d *decoder) port(path string, p int) bool {
	if !d.has(path) {
		return true
	}
	if p < 1 || p > 65535 {
		d.errorf(path, "%d is not a port number (1-65535)", p)
		return false
	}
	return true
}

// intRange checks an optional integer written at path.
func (d *decoder) intRange(path string, v *int, lo, hi int) {
	if v == nil || (*v >= lo && *v <= hi) {
		return
	}
	d.errorf(path, "%d is out of range (%d-%d)", *v, lo, hi)
}

// required reports a missing field. What says what the field is for, so the
// message tells the reader what to write.
func (d *decoder) required(path, what string) bool {
	if d.has(path) {
		return true
	}
	d.errorf(path, "required: %s", what)
	return false
}

// requiredString reports a field that is missing or empty.
func (d *decoder) requiredString(path, val, what string) bool {
	if val != "" {
		return true
	}
	d.errorf(path, "required: %s", what)
	return false
}

// uniqueNames reports the second and later uses of a name within one list.
type uniqueNames struct {
	d    *decoder
	kind string
	seen map[string]string
}

func (d *decoder) uniqueNames(kind string) *uniqueNames {
	return &uniqueNames{d: d, kind: kind, seen: map[string]string{}}
}

// add records name at path; it reports and returns false for a duplicate.
func (u *uniqueNames) add(path, name string) bool {
	if name == "" {
		return true
	}
	if first, dup := u.seen[name]; dup {
		u.d.errorf(path, "%s %q is already used at line %d; %s names must be unique", u.kind, name, u.d.lookup(first).line, u.kind)
		return false
	}
	u.seen[name] = path
	return true
}

var (
	appNameRE     = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	dnsLabelRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	secretNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	hostnameRE    = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	quantityRE    = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]+)$`)
	componentRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	envVarNameRE  = regexp.MustCompile(`^[^=\x00]+$`)
	envNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	dnsSuffixRE   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	revisionSufRE = appNameRE
)

// appNameProblem explains why name is not a valid container app name (ACA's
// rule), or returns "".
// AppNameProblem says what is wrong with an app name, "" when nothing is.
func AppNameProblem(name string) string { return appNameProblem(name) }

func appNameProblem(name string) string {
	if len(name) >= 2 && len(name) <= 32 && appNameRE.MatchString(name) && !strings.Contains(name, "--") {
		return ""
	}
	return fmt.Sprintf("%q is not a valid container app name: use 2 to 32 lowercase letters, digits and '-', "+
		"starting with a letter, ending with a letter or digit, and without \"--\"", name)
}

// daprAppIDProblem explains why id cannot be a Dapr app id, or returns "".
// Dapr rejects dots (they separate an app id from its namespace), and ACA,
// which runs on Kubernetes, needs "<id>-dapr" to be a DNS label.
func daprAppIDProblem(id string) string {
	switch {
	case strings.Contains(id, "."):
		return fmt.Sprintf("%q is not a valid Dapr app id: it cannot contain '.' (Dapr reads it as app-id.namespace)", id)
	case len(id) > 58 || !dnsLabelRE.MatchString(id):
		return fmt.Sprintf("%q is not a valid Dapr app id: use at most 58 lowercase letters, digits and '-', "+
			"starting and ending with a letter or digit", id)
	}
	return ""
}

// memoryGi parses an ACA memory quantity ("0.5Gi", "250Mi", "1G") and returns
// it in GiB. Decimal units are taken as what ACA means by them in practice
// (binary); ok is false when the text is not a quantity.
func memoryGi(s string) (gi float64, ok bool) {
	m := quantityRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	switch strings.ToLower(m[2]) {
	case "ki", "k", "kb":
		return n / (1 << 20), true
	case "mi", "m", "mb":
		return n / (1 << 10), true
	case "gi", "g", "gb":
		return n, true
	case "ti", "t", "tb":
		return n * (1 << 10), true
	}
	return 0, false
}

// ipv4CIDRProblem explains why s is not an IPv4 CIDR range, or returns "".
func ipv4CIDRProblem(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		if !p.Addr().Is4() {
			return fmt.Sprintf("%q is not an IPv4 range; ACA restricts by IPv4 CIDR ranges", s)
		}
		return ""
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return fmt.Sprintf("%q is an address, not a CIDR range; write %q", s, s+"/32")
	}
	return fmt.Sprintf("%q is not an IPv4 CIDR range such as 203.0.113.0/24", s)
}
