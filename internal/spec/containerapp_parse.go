package spec

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
)

// ACA's bounds and reserved values.
const (
	maxReplicasLimit       = 1000
	maxAdditionalPorts     = 5
	healthCheckPort        = 36985 // reserved by ACA for internal health checks
	maxInactiveRevisionCap = 100
)

// containerAppFile is the YAML shape of an app: a ContainerApp whose
// configuration and template may also sit at the top level, as the CLI
// accepts.
type containerAppFile struct {
	ContainerApp
	Configuration *Configuration `json:"configuration"`
	Template      *Template      `json:"template"`
}

// ParseContainerApp parses and validates an ACA container app YAML. It
// returns the app when there are no errors; the Problems may then still hold
// warnings. file names the source in problems.
func ParseContainerApp(file string, data []byte) (*ContainerApp, Problems) {
	p := parseApp(file, data, true)
	probs := p.d.probs.sorted()
	if probs.Err() != nil || p.app == nil {
		return nil, probs
	}
	p.applyDefaults()
	return p.app, probs
}

// appParse is one app file being parsed: the app, its problems, and what the
// environment-level checks need to know about it.
type appParse struct {
	app *ContainerApp
	d   *decoder
	// cfg and tpl are the paths of configuration and template in the file:
	// under properties, or at the top level.
	cfg, tpl string
	secrets  map[string]*Secret
	// secretPaths locate each declared secret in the file.
	secretPaths map[string]string
	// secretUses are the places that need a secret's value, by secret name.
	secretUses map[string][]string
}

// parseApp decodes and validates an app file. needName says whether a
// missing name is an error here; the environment file can supply it.
func parseApp(file string, data []byte, needName bool) *appParse {
	p := &appParse{
		d:           newDecoder(file),
		cfg:         "properties.configuration",
		tpl:         "properties.template",
		secrets:     map[string]*Secret{},
		secretPaths: map[string]string{},
		secretUses:  map[string][]string{},
	}
	root := p.d.parse(data)
	if root == nil {
		return p
	}
	var f containerAppFile
	p.d.decodeDocument(root, &f)
	p.app = &f.ContainerApp
	props := &p.app.Properties
	if f.Configuration != nil {
		if props.Configuration != nil {
			p.d.errorf("configuration", "configuration is also set under properties; keep one of the two")
		} else {
			props.Configuration, p.cfg = f.Configuration, "configuration"
		}
	}
	if f.Template != nil {
		if props.Template != nil {
			p.d.errorf("template", "template is also set under properties; keep one of the two")
		} else {
			props.Template, p.tpl = f.Template, "template"
		}
	}
	if props.Configuration == nil {
		props.Configuration = &Configuration{}
	}
	if props.Template == nil {
		props.Template = &Template{}
	}
	p.validate(needName)
	return p
}

// applyDefaults fills in what ACA assumes when a field is unset, so that
// consumers read one explicit value.
func (p *appParse) applyDefaults() {
	c, t := p.app.Properties.Configuration, p.app.Properties.Template
	if c.ActiveRevisionsMode == "" {
		c.ActiveRevisionsMode = "Single"
	}
	if c.Ingress != nil && c.Ingress.Transport == "" {
		c.Ingress.Transport = "auto"
	}
	if c.Dapr != nil && c.Dapr.Enabled {
		if c.Dapr.AppID == "" {
			c.Dapr.AppID = p.app.Name
		}
		if c.Dapr.AppProtocol == "" {
			c.Dapr.AppProtocol = "http"
		}
	}
	if t.Scale == nil {
		t.Scale = &Scale{}
	}
	if t.Scale.MaxReplicas == 0 {
		t.Scale.MaxReplicas = DefaultMaxReplicas
	}
}

// secretPath returns where the secret name is declared.
func (p *appParse) secretPath(name string) string { return p.secretPaths[name] }

// useSecret records that path needs the secret name and checks it is declared.
func (p *appParse) useSecret(path, name string) {
	if name == "" {
		return
	}
	p.secretUses[name] = append(p.secretUses[name], path)
	if _, ok := p.secrets[name]; ok {
		return
	}
	names := make([]string, 0, len(p.secrets))
	for n := range p.secrets {
		names = append(names, n)
	}
	msg := fmt.Sprintf("secret %q is not declared in %s.secrets", name, p.cfg)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	p.d.errorf(path, "%s", msg)
}

func (p *appParse) validate(needName bool) {
	a, d := p.app, p.d
	switch {
	case a.Name != "":
		if msg := appNameProblem(a.Name); msg != "" {
			d.errorf("name", "%s", msg)
		}
	case needName:
		d.errorf("name", "required: the container app's name (ACA takes it from --name; cove reads it here)")
	}
	if a.Type != "" && !strings.EqualFold(a.Type, "Microsoft.App/containerApps") {
		d.errorf("type", "%q is not Microsoft.App/containerApps: this file does not describe a container app", a.Type)
	}
	if a.Identity != nil {
		d.enum("identity.type", &a.Identity.Type, "None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned")
	}
	c, t := a.Properties.Configuration, a.Properties.Template
	p.configuration(c)
	p.template(t, c)
	p.resourceTotals(t)
}

func (p *appParse) configuration(c *Configuration) {
	d, cp := p.d, p.cfg
	d.enum(cp+".activeRevisionsMode", &c.ActiveRevisionsMode, "Single", "Multiple", "Labels")
	p.declareSecrets(cp+".secrets", c.Secrets)
	for i := range c.Registries {
		p.registry(indexPath(cp+".registries", i), &c.Registries[i])
	}
	if c.Dapr != nil {
		p.dapr(cp+".dapr", c.Dapr, c.Ingress)
	}
	if c.Ingress != nil {
		p.ingress(cp+".ingress", c.Ingress, c.ActiveRevisionsMode)
	}
	d.intRange(cp+".maxInactiveRevisions", c.MaxInactiveRevisions, 0, maxInactiveRevisionCap)
	if c.Service != nil {
		d.requiredString(cp+".service.type", c.Service.Type, "the dev service type, e.g. redis")
	}
	for i := range c.IdentitySettings {
		ip := indexPath(cp+".identitySettings", i)
		s := &c.IdentitySettings[i]
		d.requiredString(ip+".identity", s.Identity, "the identity's resource ID, or system")
		d.enum(ip+".lifecycle", &s.Lifecycle, "Init", "Main", "None", "All")
	}
	switch labels := strings.EqualFold(c.ActiveRevisionsMode, "Labels"); {
	case c.TargetLabel != "" && !labels:
		d.warnf(cp+".targetLabel", "targetLabel is only used with activeRevisionsMode: Labels")
	case c.TargetLabel == "" && labels:
		d.warnf(cp+".activeRevisionsMode", "activeRevisionsMode Labels needs targetLabel, the label each new revision takes; without it new revisions get none")
	case c.TargetLabel != "" && !validLabel(c.TargetLabel):
		d.errorf(cp+".targetLabel", "%q is not a valid label: use lowercase letters, digits and '-', starting with a letter", c.TargetLabel)
	}
}

// declareSecrets checks the app's secrets and indexes them by name. A secret
// with neither value nor keyVaultUrl is allowed here (`az containerapp show`
// leaves values out); the environment file must then give it a local value.
func (p *appParse) declareSecrets(path string, secrets []Secret) {
	d := p.d
	names := d.uniqueNames("secret")
	for i := range secrets {
		sp := indexPath(path, i)
		s := &secrets[i]
		if !d.requiredString(sp+".name", s.Name, "the secret's name") {
			continue
		}
		if !secretNameRE.MatchString(s.Name) || len(s.Name) > 253 {
			d.errorf(sp+".name", "%q is not a valid secret name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", s.Name)
		}
		if !names.add(sp+".name", s.Name) {
			continue
		}
		p.secrets[s.Name], p.secretPaths[s.Name] = s, sp
		if d.has(sp+".value") && d.has(sp+".keyVaultUrl") {
			d.errorf(sp, "set either value or keyVaultUrl, not both")
		}
		if s.KeyVaultURL != "" {
			if u, err := url.Parse(s.KeyVaultURL); err != nil || u.Scheme != "https" || u.Host == "" {
				d.errorf(sp+".keyVaultUrl", "%q is not an https URL of a Key Vault secret", s.KeyVaultURL)
			}
		}
		if s.Identity != "" && s.KeyVaultURL == "" {
			d.errorf(sp+".identity", "identity is only used with keyVaultUrl")
		}
	}
}

func (p *appParse) registry(rp string, r *RegistryCredentials) {
	d := p.d
	d.requiredString(rp+".server", r.Server, "the registry's host name, e.g. myregistry.azurecr.io")
	if r.PasswordSecretRef != "" && r.Identity != "" {
		d.errorf(rp, "set either passwordSecretRef or identity, not both")
	}
	if r.PasswordSecretRef != "" {
		d.requiredString(rp+".username", r.Username, "the registry user the password belongs to")
		p.useSecret(rp+".passwordSecretRef", r.PasswordSecretRef)
	}
}

func (p *appParse) dapr(dp string, dc *Dapr, in *Ingress) {
	d := p.d
	d.enum(dp+".appProtocol", &dc.AppProtocol, "http", "grpc")
	d.enum(dp+".logLevel", &dc.LogLevel, "info", "debug", "warn", "error")
	d.port(dp+".appPort", dc.AppPort)
	if d.has(dp+".httpMaxRequestSize") && dc.HTTPMaxRequestSize < 1 {
		d.errorf(dp+".httpMaxRequestSize", "%d is not a size in MB (at least 1)", dc.HTTPMaxRequestSize)
	}
	if d.has(dp+".httpReadBufferSize") && dc.HTTPReadBufferSize < 1 {
		d.errorf(dp+".httpReadBufferSize", "%d is not a size in KB (at least 1)", dc.HTTPReadBufferSize)
	}
	if !dc.Enabled {
		return
	}
	if dc.AppID != "" {
		if msg := daprAppIDProblem(dc.AppID); msg != "" {
			d.errorf(dp+".appId", "%s", msg)
		}
	}
	// Without appPort the sidecar cannot reach the app. That is right for an
	// app that only calls out, so it is a warning, given when the app has
	// ingress and so evidently serves requests.
	if !d.has(dp+".appPort") && in != nil {
		hint := ""
		if in.TargetPort > 0 {
			hint = fmt.Sprintf(" (the ingress targetPort is %d)", in.TargetPort)
		}
		d.warnf(dp+".appPort", "not set, so Dapr cannot call the app (service invocation, pub/sub delivery, input bindings); set appPort%s unless the app only calls out", hint)
	}
}

func (p *appParse) ingress(ip string, in *Ingress, mode string) {
	d := p.d
	d.enum(ip+".transport", &in.Transport, "auto", "http", "http2", "tcp")
	tcp := in.Transport == "tcp"
	if d.required(ip+".targetPort", "the port the app listens on") {
		d.port(ip+".targetPort", in.TargetPort)
	}
	// `az containerapp show` prints exposedPort: 0 for HTTP apps: 0 is unset.
	if in.ExposedPort != 0 {
		if !tcp {
			d.errorf(ip+".exposedPort", "exposedPort is only used with transport: tcp; remove it or set transport: tcp")
		} else {
			p.exposedPort(ip+".exposedPort", in.ExposedPort)
		}
	}
	d.enum(ip+".clientCertificateMode", &in.ClientCertificateMode, "ignore", "accept", "require")
	if d.enum(ip+".targetPortHttpScheme", &in.TargetPortHTTPScheme, "http", "https") && tcp && in.TargetPortHTTPScheme != "" {
		d.errorf(ip+".targetPortHttpScheme", "targetPortHttpScheme is for HTTP apps; remove it, or set transport to auto, http or http2")
	}
	if s := in.StickySessions; s != nil {
		d.enum(ip+".stickySessions.affinity", &s.Affinity, "sticky", "none")
		if tcp && s.Affinity == "sticky" {
			d.warnf(ip+".stickySessions", "sticky sessions need HTTP; they do not apply with transport: tcp")
		}
	}
	if cp := in.CORSPolicy; cp != nil {
		d.required(ip+".corsPolicy.allowedOrigins", "the origins allowed to call the app, e.g. [https://example.com]")
		if cp.MaxAge < 0 {
			d.errorf(ip+".corsPolicy.maxAge", "%d is negative; maxAge is in seconds", cp.MaxAge)
		}
		if tcp {
			d.warnf(ip+".corsPolicy", "CORS needs HTTP; it does not apply with transport: tcp")
		}
		if cp.AllowCredentials && slices.Contains(cp.AllowedOrigins, "*") {
			d.warnf(ip+".corsPolicy.allowCredentials", "browsers refuse credentials when allowedOrigins is \"*\"; list the origins instead")
		}
	}
	p.ipRestrictions(ip+".ipSecurityRestrictions", in.IPSecurityRestrictions)
	p.traffic(ip+".traffic", in.Traffic, mode)
	for i := range in.CustomDomains {
		cp := indexPath(ip+".customDomains", i)
		cd := &in.CustomDomains[i]
		if d.requiredString(cp+".name", cd.Name, "the host name, e.g. www.example.com") && !hostnameRE.MatchString(cd.Name) {
			d.errorf(cp+".name", "%q is not a lowercase host name", cd.Name)
		}
		if d.enum(cp+".bindingType", &cd.BindingType, "Disabled", "SniEnabled") && cd.BindingType == "SniEnabled" && cd.CertificateID == "" {
			d.errorf(cp+".certificateId", "required: bindingType SniEnabled needs the certificate's resource ID")
		}
	}
	apm := ip + ".additionalPortMappings"
	if n := len(in.AdditionalPortMappings); n > maxAdditionalPorts {
		d.errorf(apm, "%d additional ports; ACA allows at most %d", n, maxAdditionalPorts)
	}
	targets := map[int]string{}
	if in.TargetPort > 0 {
		targets[in.TargetPort] = ip + ".targetPort"
	}
	for i, m := range in.AdditionalPortMappings {
		mp := indexPath(apm, i)
		d.required(mp+".external", "true to expose the port outside the environment, false to keep it internal")
		if d.required(mp+".targetPort", "the port the app listens on") && d.port(mp+".targetPort", m.TargetPort) {
			if first, dup := targets[m.TargetPort]; dup {
				d.errorf(mp+".targetPort", "port %d is already mapped at line %d", m.TargetPort, d.lookup(first).line)
			}
			targets[m.TargetPort] = mp + ".targetPort"
		}
		if m.ExposedPort != 0 {
			p.exposedPort(mp+".exposedPort", m.ExposedPort)
		}
	}
}

// exposedPort checks a TCP port the environment exposes.
func (p *appParse) exposedPort(path string, port int) {
	if !p.d.port(path, port) {
		return
	}
	switch port {
	case 80, 443:
		p.d.errorf(path, "%d is reserved for HTTP ingress; a TCP port must be another one", port)
	case healthCheckPort:
		p.d.errorf(path, "%d is reserved by ACA for health checks", port)
	}
}

func (p *appParse) ipRestrictions(path string, rules []IPSecurityRestriction) {
	d := p.d
	names := d.uniqueNames("rule")
	firstAction, firstPath := "", ""
	for i := range rules {
		rp := indexPath(path, i)
		r := &rules[i]
		if d.requiredString(rp+".name", r.Name, "a name for the rule") {
			names.add(rp+".name", r.Name)
		}
		if d.requiredString(rp+".ipAddressRange", r.IPAddressRange, "the source range in CIDR notation, e.g. 203.0.113.0/24") {
			if msg := ipv4CIDRProblem(r.IPAddressRange); msg != "" {
				d.errorf(rp+".ipAddressRange", "%s", msg)
			}
		}
		if d.requiredString(rp+".action", r.Action, "Allow or Deny") && d.enum(rp+".action", &r.Action, "Allow", "Deny") {
			if firstAction == "" {
				firstAction, firstPath = r.Action, rp+".action"
			} else if r.Action != firstAction {
				d.errorf(rp+".action", "%s mixes with %s at line %d; all rules of an app must be Allow or all Deny",
					r.Action, firstAction, d.lookup(firstPath).line)
			}
		}
	}
}

// validLabel reports whether a traffic label can be a host label
// ("<app>---<label>"): an app name's characters, without "--".
func validLabel(l string) bool {
	return appNameRE.MatchString(l) && !strings.Contains(l, "--")
}

func (p *appParse) traffic(path string, weights []TrafficWeight, mode string) {
	if len(weights) == 0 {
		return
	}
	d := p.d
	labels := d.uniqueNames("label")
	// In Labels mode traffic goes to labels: an entry may name only its
	// label, whichever revision holds it.
	byLabel := strings.EqualFold(mode, "Labels")
	sum := 0
	for i := range weights {
		wp := indexPath(path, i)
		w := &weights[i]
		switch {
		case w.RevisionName != "" && w.LatestRevision:
			d.errorf(wp, "set either revisionName or latestRevision: true, not both")
		case w.RevisionName == "" && !w.LatestRevision && byLabel && w.Label == "":
			d.errorf(wp, "required: label, revisionName, or latestRevision: true")
		case w.RevisionName == "" && !w.LatestRevision && !byLabel:
			d.errorf(wp, "required: revisionName, or latestRevision: true")
		case w.RevisionName != "" && p.app.Name != "" && !strings.HasPrefix(w.RevisionName, p.app.Name+"--"):
			d.errorf(wp+".revisionName", "%q is not a revision of %s; revision names are %s--<suffix>", w.RevisionName, p.app.Name, p.app.Name)
		}
		if w.Weight < 0 || w.Weight > 100 {
			d.errorf(wp+".weight", "%d is not a percentage (0-100)", w.Weight)
		}
		sum += w.Weight
		if w.Label != "" {
			if !validLabel(w.Label) {
				d.errorf(wp+".label", "%q is not a valid label: use lowercase letters, digits and '-', starting with a letter", w.Label)
			}
			labels.add(wp+".label", w.Label)
		}
		if strings.EqualFold(mode, "Single") || mode == "" {
			if !w.LatestRevision && w.Weight > 0 {
				d.errorf(wp, "activeRevisionsMode Single sends all traffic to the latest revision; set activeRevisionsMode: Multiple to split traffic")
			}
		}
	}
	if sum != 100 {
		d.errorf(path, "weights add up to %d; they must add up to 100", sum)
	}
}

func (p *appParse) template(t *Template, c *Configuration) {
	d, tp := p.d, p.tpl
	if t.RevisionSuffix != "" && (!revisionSufRE.MatchString(t.RevisionSuffix) || strings.Contains(t.RevisionSuffix, "--")) {
		d.errorf(tp+".revisionSuffix", "%q is not a valid revision suffix: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, without \"--\"", t.RevisionSuffix)
	}
	if g := t.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		d.errorf(tp+".terminationGracePeriodSeconds", "%d is negative", *g)
	}
	volumes := p.volumes(tp+".volumes", t.Volumes)
	if len(t.Containers) == 0 {
		d.errorf(tp+".containers", "required: at least one container")
	}
	names := d.uniqueNames("container")
	for i, ic := range t.InitContainers {
		if ic != nil {
			p.container(indexPath(tp+".initContainers", i), &ic.BaseContainer, names, volumes)
		}
	}
	for i, ct := range t.Containers {
		if ct == nil {
			d.errorf(indexPath(tp+".containers", i), "required: a container (name, image, ...)")
			continue
		}
		cp := indexPath(tp+".containers", i)
		p.container(cp, &ct.BaseContainer, names, volumes)
		p.probes(cp+".probes", ct.Probes)
	}
	if t.Scale != nil {
		p.scale(tp+".scale", t.Scale, c.Ingress != nil)
	}
	for i, sb := range t.ServiceBinds {
		d.requiredString(indexPath(tp+".serviceBinds", i)+".serviceId", sb.ServiceID, "the resource ID of the dev service")
	}
}

func (p *appParse) container(cp string, c *BaseContainer, names *uniqueNames, volumes map[string]bool) {
	d := p.d
	if d.requiredString(cp+".name", c.Name, "the container's name") {
		if len(c.Name) > 63 || !dnsLabelRE.MatchString(c.Name) {
			d.errorf(cp+".name", "%q is not a valid container name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", c.Name)
		}
		names.add(cp+".name", c.Name)
	}
	d.requiredString(cp+".image", c.Image, "the container image (in process mode, cove runs the app from command: in the environment file)")
	envNames := d.uniqueNames("env var")
	for i, e := range c.Env {
		ep := indexPath(cp+".env", i)
		if d.requiredString(ep+".name", e.Name, "the variable's name") {
			envNames.add(ep+".name", e.Name)
		}
		hasValue, hasRef := d.has(ep+".value"), d.has(ep+".secretRef")
		switch {
		case hasValue && hasRef:
			d.errorf(ep, "set either value or secretRef, not both")
		case !hasValue && !hasRef:
			d.errorf(ep, "required: value, or secretRef naming one of the app's secrets")
		case hasRef:
			p.useSecret(ep+".secretRef", e.SecretRef)
		}
	}
	if r := c.Resources; r != nil {
		rp := cp + ".resources"
		if d.has(rp+".cpu") && (r.CPU <= 0 || math.IsInf(r.CPU, 0) || math.IsNaN(r.CPU)) {
			d.errorf(rp+".cpu", "%v is not a CPU amount; write cores as a number, e.g. 0.5", r.CPU)
		}
		if r.Memory != "" {
			if gi, ok := memoryGi(r.Memory); !ok || gi <= 0 {
				d.errorf(rp+".memory", "%q is not a memory amount; write it like 0.5Gi or 512Mi", r.Memory)
			}
		}
		if r.EphemeralStorage != "" {
			if gi, ok := memoryGi(r.EphemeralStorage); !ok || gi <= 0 {
				d.errorf(rp+".ephemeralStorage", "%q is not a storage amount; write it like 2Gi", r.EphemeralStorage)
			}
		}
	}
	for i, m := range c.VolumeMounts {
		mp := indexPath(cp+".volumeMounts", i)
		if d.requiredString(mp+".volumeName", m.VolumeName, "the name of one of the template's volumes") && !volumes[m.VolumeName] {
			d.errorf(mp+".volumeName", "volume %q is not declared in %s.volumes", m.VolumeName, p.tpl)
		}
		if d.requiredString(mp+".mountPath", m.MountPath, "the absolute path to mount the volume at") &&
			(!strings.HasPrefix(m.MountPath, "/") || strings.Contains(m.MountPath, ":")) {
			d.errorf(mp+".mountPath", "%q must be an absolute path without ':'", m.MountPath)
		}
	}
}

func (p *appParse) probes(path string, probes []*Probe) {
	d := p.d
	types := d.uniqueNames("probe type")
	for i, pr := range probes {
		pp := indexPath(path, i)
		if pr == nil {
			d.errorf(pp, "required: a probe (type and httpGet or tcpSocket)")
			continue
		}
		if d.requiredString(pp+".type", pr.Type, "Liveness, Readiness or Startup") &&
			d.enum(pp+".type", &pr.Type, "Liveness", "Readiness", "Startup") {
			types.add(pp+".type", pr.Type)
		}
		switch {
		case pr.HTTPGet != nil && pr.TCPSocket != nil:
			d.errorf(pp, "set either httpGet or tcpSocket, not both")
		case pr.HTTPGet == nil && pr.TCPSocket == nil:
			d.errorf(pp, "required: httpGet or tcpSocket")
		case pr.HTTPGet != nil:
			hp := pp + ".httpGet"
			if d.required(hp+".port", "the container port to probe") {
				d.port(hp+".port", pr.HTTPGet.Port)
			}
			d.enum(hp+".scheme", &pr.HTTPGet.Scheme, "HTTP", "HTTPS")
			if pr.HTTPGet.Path != "" && !strings.HasPrefix(pr.HTTPGet.Path, "/") {
				d.errorf(hp+".path", "%q must start with '/'", pr.HTTPGet.Path)
			}
			for j, h := range pr.HTTPGet.HTTPHeaders {
				d.requiredString(indexPath(hp+".httpHeaders", j)+".name", h.Name, "the header's name")
			}
		default:
			tp := pp + ".tcpSocket"
			if d.required(tp+".port", "the container port to probe") {
				d.port(tp+".port", pr.TCPSocket.Port)
			}
		}
		d.intRange(pp+".initialDelaySeconds", pr.InitialDelaySeconds, 0, 60)
		d.intRange(pp+".periodSeconds", pr.PeriodSeconds, 1, 240)
		d.intRange(pp+".timeoutSeconds", pr.TimeoutSeconds, 1, 240)
		d.intRange(pp+".successThreshold", pr.SuccessThreshold, 1, 10)
		d.intRange(pp+".failureThreshold", pr.FailureThreshold, 1, 10)
		if s := pr.SuccessThreshold; s != nil && *s != 1 && (pr.Type == "Liveness" || pr.Type == "Startup") {
			d.errorf(pp+".successThreshold", "must be 1 for a %s probe", pr.Type)
		}
		if g := pr.TerminationGracePeriodSeconds; g != nil && (*g < 0 || *g > 3600) {
			d.errorf(pp+".terminationGracePeriodSeconds", "%d is out of range (0-3600)", *g)
		}
	}
}

func (p *appParse) scale(sp string, s *Scale, ingress bool) {
	d := p.d
	if s.MinReplicas < 0 || s.MinReplicas > maxReplicasLimit {
		d.errorf(sp+".minReplicas", "%d is out of range (0-%d)", s.MinReplicas, maxReplicasLimit)
	}
	maxR := DefaultMaxReplicas
	if d.has(sp + ".maxReplicas") {
		maxR = s.MaxReplicas
		if maxR < 1 || maxR > maxReplicasLimit {
			d.errorf(sp+".maxReplicas", "%d is out of range (1-%d)", maxR, maxReplicasLimit)
		}
	}
	if s.MinReplicas > maxR && maxR >= 1 {
		note := ""
		if !d.has(sp + ".maxReplicas") {
			note = " (the default when maxReplicas is unset)"
		}
		d.errorf(sp+".minReplicas", "%d is greater than maxReplicas %d%s", s.MinReplicas, maxR, note)
	}
	if v := s.CooldownPeriod; v != nil && *v < 0 {
		d.errorf(sp+".cooldownPeriod", "%d is negative", *v)
	}
	if v := s.PollingInterval; v != nil && *v < 1 {
		d.errorf(sp+".pollingInterval", "%d is not a polling interval in seconds (at least 1)", *v)
	}
	names := d.uniqueNames("scale rule")
	for i := range s.Rules {
		rp := indexPath(sp+".rules", i)
		r := &s.Rules[i]
		if d.requiredString(rp+".name", r.Name, "a name for the rule") {
			if !secretNameRE.MatchString(r.Name) {
				d.errorf(rp+".name", "%q is not a valid rule name: use lowercase letters, digits, '-' and '.'", r.Name)
			}
			names.add(rp+".name", r.Name)
		}
		kinds := 0
		if r.HTTP != nil {
			kinds++
			p.scaleAuth(rp+".http.auth", r.HTTP.Auth)
			if !ingress {
				d.warnf(rp+".http", "an http scale rule needs ingress, and the app has none")
			}
		}
		if r.TCP != nil {
			kinds++
			p.scaleAuth(rp+".tcp.auth", r.TCP.Auth)
		}
		if r.Custom != nil {
			kinds++
			d.requiredString(rp+".custom.type", r.Custom.Type, "the KEDA scaler type, e.g. azure-servicebus")
			p.scaleAuth(rp+".custom.auth", r.Custom.Auth)
		}
		if q := r.AzureQueue; q != nil {
			kinds++
			d.requiredString(rp+".azureQueue.queueName", q.QueueName, "the queue to watch")
			if q.QueueLength < 1 {
				d.errorf(rp+".azureQueue.queueLength", "required: the queue length per replica (at least 1)")
			}
			p.scaleAuth(rp+".azureQueue.auth", q.Auth)
		}
		if kinds != 1 {
			d.errorf(rp, "set exactly one of http, tcp, custom and azureQueue (found %d)", kinds)
		}
	}
}

func (p *appParse) scaleAuth(path string, auth []ScaleRuleAuth) {
	for i, a := range auth {
		ap := indexPath(path, i)
		p.d.requiredString(ap+".triggerParameter", a.TriggerParameter, "the scaler parameter the secret fills")
		if p.d.requiredString(ap+".secretRef", a.SecretRef, "the secret holding the value") {
			p.useSecret(ap+".secretRef", a.SecretRef)
		}
	}
}

// volumes checks the template's volumes and returns their names.
func (p *appParse) volumes(path string, volumes []Volume) map[string]bool {
	d := p.d
	out := map[string]bool{}
	names := d.uniqueNames("volume")
	for i := range volumes {
		vp := indexPath(path, i)
		v := &volumes[i]
		if d.requiredString(vp+".name", v.Name, "the volume's name") {
			names.add(vp+".name", v.Name)
			out[v.Name] = true
		}
		if !d.enum(vp+".storageType", &v.StorageType, "AzureFile", "EmptyDir", "Secret", "NfsAzureFile") {
			continue
		}
		switch v.StorageType {
		case "AzureFile", "NfsAzureFile":
			d.requiredString(vp+".storageName", v.StorageName, "the environment storage to mount")
		}
		if len(v.Secrets) > 0 && v.StorageType != "Secret" {
			d.errorf(vp+".secrets", "secrets are only used with storageType: Secret")
		}
		for j, s := range v.Secrets {
			sp := indexPath(vp+".secrets", j)
			if d.requiredString(sp+".secretRef", s.SecretRef, "the secret to project") {
				p.useSecret(sp+".secretRef", s.SecretRef)
			}
		}
		// A Secret volume without a list projects every secret.
		if v.StorageType == "Secret" && len(v.Secrets) == 0 {
			for name := range p.secrets {
				p.secretUses[name] = append(p.secretUses[name], vp)
			}
		}
	}
	return out
}

// resourceTotals warns when the app's containers add up to a CPU and memory
// pair that ACA's Consumption profile rejects: 0.25 to 4 cores in steps of
// 0.25, with 2Gi of memory per core.
func (p *appParse) resourceTotals(t *Template) {
	if wp := p.app.Properties.WorkloadProfileName; wp != "" && !strings.EqualFold(wp, "Consumption") {
		return
	}
	var cpu, mem float64
	for _, c := range t.Containers {
		if c == nil || c.Resources == nil || c.Resources.CPU <= 0 || c.Resources.Memory == "" {
			return
		}
		gi, ok := memoryGi(c.Resources.Memory)
		if !ok {
			return
		}
		cpu += c.Resources.CPU
		mem += gi
	}
	if len(t.Containers) == 0 {
		return
	}
	steps := cpu / 0.25
	if math.Abs(steps-math.Round(steps)) < 1e-6 && cpu <= 4+1e-9 && math.Abs(mem-2*cpu) < 1e-6 {
		return
	}
	p.d.warnf(p.tpl+".containers", "the containers total %g CPU and %gGi memory, which ACA's Consumption profile does not offer "+
		"(0.25 to 4 CPU in steps of 0.25, with 2Gi per CPU); set workloadProfileName if the app runs on a dedicated profile", cpu, mem)
}
