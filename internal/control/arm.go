package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/spec"
	"github.com/cove-env/cove/internal/supervisor"
)

// The ARM-shaped part of the management API serves the environment as
// Azure Resource Manager serves an ACA environment (Microsoft.App), so
// that what `az containerapp … show` prints, cove prints too:
//
//	GET {prefix}/managedEnvironments[/{env}]
//	GET {prefix}/managedEnvironments/{env}/daprComponents[/{name}]
//	GET {prefix}/managedEnvironments/{env}/daprSubscriptions[/{name}]
//	GET {prefix}/containerApps[/{app}]
//	GET {prefix}/containerApps/{app}/revisions[/{rev}]
//	GET {prefix}/containerApps/{app}/revisions/{rev}/replicas[/{replica}]
//
// where prefix is /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App.
// Any subscription and resource group are accepted, as is any
// api-version; the ids cove returns use ARMSubscription and
// ARMResourceGroup. Lists are {"value": [...]}; errors are ARM's
// {"error": {"code", "message"}}.

const (
	// ARMSubscription and ARMResourceGroup are the fixed subscription id
	// and resource group of every cove resource's ARM id.
	ARMSubscription  = "00000000-0000-0000-0000-000000000000"
	ARMResourceGroup = "cove"
	// ARMLocation is every cove resource's location.
	ARMLocation = "local"
)

// ARMPrefix is the path every ARM id starts with.
const ARMPrefix = "/subscriptions/" + ARMSubscription + "/resourceGroups/" + ARMResourceGroup + "/providers/Microsoft.App"

// EnvSpec is the environment's desired state as the controller applies it
// now: what the ARM-shaped API serves beside Status.
type EnvSpec struct {
	Name   string
	Domain string
	// File is the environment file's absolute path.
	File string
	// Apps are sorted by name.
	Apps       []AppSpec
	Components []*spec.Component
	// Subscriptions are the declarative pub/sub subscriptions.
	Subscriptions []*spec.Subscription
}

// AppSpec is one app as last applied (at start or by a reload) and the
// template of each of its revisions. Both are shared: read, never change.
type AppSpec struct {
	App       *spec.ContainerApp
	Templates map[string]*spec.Template
	// Processes are, by revision, the template's containers a process-mode
	// replica runs (the first, then those cove.yaml gives a command); nil
	// for container mode.
	Processes map[string][]string
	// File is the app's file as the environment file names it; Path is
	// its absolute path.
	File, Path string
	// Inactive are the app's inactive revisions, oldest first.
	Inactive []InactiveRevision
}

// Spec returns the environment's desired state as applied now.
func (e *Env) Spec() EnvSpec {
	es := EnvSpec{Name: e.spec.Name, Domain: e.spec.Domain, File: e.spec.File}
	e.mu.Lock()
	for _, a := range e.apps {
		as := AppSpec{App: a.current.App, Templates: map[string]*spec.Template{}, File: a.current.File, Path: a.current.Path}
		for _, rev := range a.revisions {
			tmpl := rev.entry.App.Properties.Template
			as.Templates[rev.name] = tmpl
			if rev.entry.Containers() || tmpl == nil || len(tmpl.Containers) == 0 {
				continue
			}
			if as.Processes == nil {
				as.Processes = map[string][]string{}
			}
			run := []string{tmpl.Containers[0].Name}
			for _, c := range tmpl.Containers[1:] {
				if rev.entry.ContainerCommands[c.Name] != nil {
					run = append(run, c.Name)
				}
			}
			as.Processes[rev.name] = run
		}
		for _, r := range a.inactive {
			as.Inactive = append(as.Inactive, InactiveRevision{Name: r.name, Created: r.created, Template: r.entry.App.Properties.Template})
		}
		es.Apps = append(es.Apps, as)
	}
	comps := e.comps
	es.Subscriptions = e.spec.Subscriptions
	e.mu.Unlock()
	sort.Slice(es.Apps, func(i, j int) bool { return es.Apps[i].App.Name < es.Apps[j].App.Name })
	if comps != nil {
		for _, lc := range comps.All() {
			es.Components = append(es.Components, lc.Spec)
		}
	}
	return es
}

// ARMList is ARM's answer to a list request.
type ARMList[T any] struct {
	Value []T `json:"value"`
}

// ARMEnvironment is a Microsoft.App/managedEnvironments resource.
type ARMEnvironment struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Type       string                   `json:"type"`
	Location   string                   `json:"location"`
	Properties ARMEnvironmentProperties `json:"properties"`
}

// ARMEnvironmentProperties are the environment's properties that cove has.
type ARMEnvironmentProperties struct {
	ProvisioningState string                `json:"provisioningState"`
	DefaultDomain     string                `json:"defaultDomain"`
	StaticIP          string                `json:"staticIp"`
	DaprConfiguration ARMDaprConfiguration  `json:"daprConfiguration"`
	ZoneRedundant     bool                  `json:"zoneRedundant"`
	CustomDomain      *ARMEnvCustomDomain   `json:"customDomainConfiguration,omitempty"`
	WorkloadProfiles  []ARMWorkloadProfile  `json:"workloadProfiles"`
	AppLogs           *ARMAppLogsConfigured `json:"appLogsConfiguration,omitempty"`
}

// ARMDaprConfiguration is the Dapr runtime version the sidecars follow.
type ARMDaprConfiguration struct {
	Version string `json:"version"`
}

// ARMEnvCustomDomain is the environment's custom DNS suffix, unused here.
type ARMEnvCustomDomain struct {
	DNSSuffix string `json:"dnsSuffix,omitempty"`
}

// ARMWorkloadProfile is a workload profile: cove has the Consumption one.
type ARMWorkloadProfile struct {
	Name                string `json:"name"`
	WorkloadProfileType string `json:"workloadProfileType"`
}

// ARMAppLogsConfigured says where app logs go: cove keeps them itself
// (`cove logs`).
type ARMAppLogsConfigured struct {
	Destination string `json:"destination,omitempty"`
}

// ARMRevision is a Microsoft.App/containerApps/revisions resource.
type ARMRevision struct {
	ID         string                `json:"id"`
	Name       string                `json:"name"`
	Type       string                `json:"type"`
	Properties ARMRevisionProperties `json:"properties"`
}

// ARMRevisionProperties are a revision's properties.
type ARMRevisionProperties struct {
	// CreatedTime is when the revision was first created (RFC 3339).
	CreatedTime string         `json:"createdTime,omitempty"`
	FQDN        string         `json:"fqdn,omitempty"`
	Template    *spec.Template `json:"template"`
	Active      bool           `json:"active"`
	Replicas    int            `json:"replicas"`
	// TrafficWeight is the revision's share of the app's traffic in
	// percent; Labels are the traffic labels on it (a cove addition).
	TrafficWeight int      `json:"trafficWeight"`
	Labels        []string `json:"labels,omitempty"`
	// HealthState is Healthy, Unhealthy or None.
	HealthState string `json:"healthState"`
	// ProvisioningState is Provisioning, Provisioned or Deprovisioning.
	ProvisioningState string `json:"provisioningState"`
	ProvisioningError string `json:"provisioningError,omitempty"`
	// RunningState is Processing, Running, Degraded, Failed or Stopped.
	RunningState string `json:"runningState"`
}

// ARMReplica is a Microsoft.App/containerApps/revisions/replicas resource.
type ARMReplica struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties ARMReplicaProperties `json:"properties"`
}

// ARMReplicaProperties are a replica's properties.
type ARMReplicaProperties struct {
	// RunningState is Running or NotRunning.
	RunningState        string                `json:"runningState"`
	RunningStateDetails string                `json:"runningStateDetails,omitempty"`
	Containers          []ARMReplicaContainer `json:"containers"`
}

// ARMReplicaContainer is one container of a replica; in process mode the
// replica's process is its template's first container.
type ARMReplicaContainer struct {
	Name         string `json:"name"`
	ContainerID  string `json:"containerId,omitempty"`
	Ready        bool   `json:"ready"`
	Started      bool   `json:"started"`
	RestartCount int    `json:"restartCount"`
	// RunningState is Running, Waiting or Terminated.
	RunningState        string `json:"runningState"`
	RunningStateDetails string `json:"runningStateDetails,omitempty"`
}

// ARMDaprComponent is a Microsoft.App/managedEnvironments/daprComponents
// resource.
type ARMDaprComponent struct {
	ID         string                     `json:"id"`
	Name       string                     `json:"name"`
	Type       string                     `json:"type"`
	Properties ARMDaprComponentProperties `json:"properties"`
}

// ARMDaprSubscription is a Microsoft.App/managedEnvironments/daprSubscriptions
// resource: a declarative subscription, whichever of Dapr's or ACA's shapes
// its file had.
type ARMDaprSubscription struct {
	ID         string                        `json:"id"`
	Name       string                        `json:"name"`
	Type       string                        `json:"type"`
	Properties ARMDaprSubscriptionProperties `json:"properties"`
}

// ARMDaprSubscriptionProperties are a subscription's properties.
type ARMDaprSubscriptionProperties struct {
	PubsubName      string                    `json:"pubsubName"`
	Topic           string                    `json:"topic"`
	DeadLetterTopic string                    `json:"deadLetterTopic,omitempty"`
	Routes          ARMDaprSubscriptionRoutes `json:"routes"`
	Scopes          []string                  `json:"scopes,omitempty"`
	Metadata        map[string]string         `json:"metadata,omitempty"`
	BulkSubscribe   *ARMDaprSubscriptionBulk  `json:"bulkSubscribe,omitempty"`
}

// ARMDaprSubscriptionRoutes are a subscription's rules and default path.
type ARMDaprSubscriptionRoutes struct {
	Rules   []spec.SubscriptionRule `json:"rules,omitempty"`
	Default string                  `json:"default,omitempty"`
}

// ARMDaprSubscriptionBulk is bulkSubscribe as ACA writes it.
type ARMDaprSubscriptionBulk struct {
	Enabled            bool `json:"enabled"`
	MaxMessagesCount   int  `json:"maxMessagesCount,omitempty"`
	MaxAwaitDurationMs int  `json:"maxAwaitDurationMs,omitempty"`
}

// ARMDaprComponentProperties are a component's properties; secrets show
// their names only, as ACA's do.
type ARMDaprComponentProperties struct {
	ComponentType        string                      `json:"componentType"`
	Version              string                      `json:"version"`
	IgnoreErrors         bool                        `json:"ignoreErrors"`
	InitTimeout          string                      `json:"initTimeout,omitempty"`
	Secrets              []ARMSecretName             `json:"secrets,omitempty"`
	SecretStoreComponent string                      `json:"secretStoreComponent,omitempty"`
	Metadata             []ARMMetadata               `json:"metadata,omitempty"`
	Scopes               []string                    `json:"scopes,omitempty"`
	ServiceComponentBind []spec.ComponentServiceBind `json:"serviceComponentBind,omitempty"`
}

// ARMSecretName names a secret without its value.
type ARMSecretName struct {
	Name string `json:"name"`
}

// ARMMetadata is one component setting.
type ARMMetadata struct {
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	SecretRef string `json:"secretRef,omitempty"`
}

// ARMError is ARM's error body.
type ARMError struct {
	Error ARMErrorDetail `json:"error"`
}

// ARMErrorDetail is what went wrong.
type ARMErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// armView is one request's look at the environment: its desired state
// and its status, taken once.
type armView struct {
	spec   EnvSpec
	status Status
}

func (v *armView) envID() string { return ARMPrefix + "/managedEnvironments/" + v.spec.Name }

func (v *armView) environment() ARMEnvironment {
	return ARMEnvironment{
		ID: v.envID(), Name: v.spec.Name, Type: "Microsoft.App/managedEnvironments", Location: ARMLocation,
		Properties: ARMEnvironmentProperties{
			ProvisioningState: "Succeeded",
			DefaultDomain:     v.spec.Domain,
			StaticIP:          hostOf(v.status.Edge.HTTP),
			DaprConfiguration: ARMDaprConfiguration{Version: DaprAPIVersion},
			WorkloadProfiles:  []ARMWorkloadProfile{{Name: "Consumption", WorkloadProfileType: "Consumption"}},
		},
	}
}

// hostOf is the host of a host:port address.
func hostOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

func (v *armView) appStatus(name string) (AppStatus, bool) {
	for _, a := range v.status.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return AppStatus{}, false
}

// fqdn is where a host label (an app's or a revision's name) answers, as
// ACA names it: <label>.<domain> with external ingress,
// <label>.internal.<domain> with internal.
func (v *armView) fqdn(in *spec.Ingress, label string) string {
	if in == nil {
		return ""
	}
	if in.External {
		return label + "." + v.spec.Domain
	}
	return label + ".internal." + v.spec.Domain
}

// app is the app as ARM shows it: its YAML as last applied, secret values
// left out, with the read-only properties filled in.
func (v *armView) app(as AppSpec) (*spec.ContainerApp, error) {
	var app spec.ContainerApp
	// A deep copy: the spec is shared with the controller.
	b, err := json.Marshal(as.App)
	if err == nil {
		err = json.Unmarshal(b, &app)
	}
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", as.App.Name, err)
	}
	st, _ := v.appStatus(app.Name)
	app.ID = ARMPrefix + "/containerApps/" + app.Name
	app.Type = "Microsoft.App/containerApps"
	app.Location = ARMLocation
	app.ResourceGroup = ARMResourceGroup
	p := &app.Properties
	p.ManagedEnvironmentID, p.EnvironmentID = v.envID(), v.envID()
	p.ProvisioningState = "Succeeded"
	p.RunningStatus = "Running"
	for i := range p.Configuration.Secrets {
		p.Configuration.Secrets[i].Value = ""
	}
	// Revisions are newest first: the latest is the newest that is not
	// stopping; the latest ready, the newest active one with a ready
	// replica.
	for _, r := range st.Revisions {
		if r.State == string(revStarting) {
			p.RunningStatus = "Progressing"
		}
		if p.LatestRevisionName == "" && r.State != string(revStopping) {
			p.LatestRevisionName = r.Name
		}
		if p.LatestReadyRevisionName == "" && r.State == string(revActive) && r.Ready > 0 {
			p.LatestReadyRevisionName = r.Name
		}
	}
	if in := p.Configuration.Ingress; in != nil {
		in.FQDN = v.fqdn(in, app.Name)
		if len(in.Traffic) == 0 {
			// ACA's default, which it shows.
			in.Traffic = []spec.TrafficWeight{{LatestRevision: true, Weight: 100}}
		}
		if p.LatestRevisionName != "" {
			p.LatestRevisionFqdn = v.fqdn(in, p.LatestRevisionName)
		}
	}
	return &app, nil
}

func (v *armView) revision(as AppSpec, r RevisionStatus) ARMRevision {
	rp := ARMRevisionProperties{
		FQDN: v.fqdn(as.App.Properties.Configuration.Ingress, r.Name), Template: as.Templates[r.Name],
		Replicas: r.Replicas, TrafficWeight: r.Weight, Labels: r.Labels, HealthState: "None",
	}
	if !r.Created.IsZero() {
		rp.CreatedTime = r.Created.UTC().Format(time.RFC3339)
	}
	st, _ := v.appStatus(as.App.Name)
	switch r.State {
	case string(revStarting):
		rp.ProvisioningState, rp.RunningState = "Provisioning", "Processing"
	case string(revStopping):
		rp.ProvisioningState, rp.RunningState = "Deprovisioning", "Stopped"
	default:
		rp.Active, rp.ProvisioningState = true, "Provisioned"
		switch {
		case r.Ready == r.Replicas:
			rp.RunningState, rp.HealthState = "Running", "Healthy"
		case r.Ready > 0:
			rp.RunningState, rp.HealthState = "Degraded", "Unhealthy"
		case st.Problem != "":
			rp.RunningState, rp.HealthState, rp.ProvisioningError = "Failed", "Unhealthy", st.Problem
		default:
			rp.RunningState, rp.HealthState = "Processing", "Unhealthy"
		}
	}
	return ARMRevision{
		ID:   ARMPrefix + "/containerApps/" + as.App.Name + "/revisions/" + r.Name,
		Name: r.Name, Type: "Microsoft.App/containerApps/revisions", Properties: rp,
	}
}

// inactiveRevision is an inactive revision as ARM shows it: provisioned,
// not running, no replicas.
func (v *armView) inactiveRevision(as AppSpec, r InactiveRevision) ARMRevision {
	return ARMRevision{
		ID:   ARMPrefix + "/containerApps/" + as.App.Name + "/revisions/" + r.Name,
		Name: r.Name, Type: "Microsoft.App/containerApps/revisions",
		Properties: ARMRevisionProperties{
			CreatedTime: r.Created.UTC().Format(time.RFC3339), FQDN: v.fqdn(as.App.Properties.Configuration.Ingress, r.Name),
			Template: r.Template, HealthState: "None", ProvisioningState: "Provisioned", RunningState: "Stopped",
		},
	}
}

func (v *armView) replica(as AppSpec, r ReplicaStatus) ARMReplica {
	// The replica's process runs from Starting to Ready; otherwise it is
	// restarting, failed or stopped.
	running := slices.Contains([]supervisor.State{supervisor.StateStarting, supervisor.StateRunning, supervisor.StateReady}, supervisor.State(r.State))
	rp := ARMReplicaProperties{RunningState: "NotRunning", RunningStateDetails: r.State}
	if running {
		rp.RunningState, rp.RunningStateDetails = "Running", ""
	}
	if r.LastExit != "" && !r.Ready {
		rp.RunningStateDetails = strings.TrimPrefix(rp.RunningStateDetails+"; last exit: "+r.LastExit, "; ")
	}
	if len(r.Containers) > 0 {
		for _, c := range r.Containers {
			rc := ARMReplicaContainer{Name: c.Name, ContainerID: c.ID, RunningState: "Waiting", RunningStateDetails: c.State}
			if strings.EqualFold(c.State, "running") {
				rc.RunningState, rc.RunningStateDetails, rc.Started, rc.Ready = "Running", "", true, r.Ready
			}
			rp.Containers = append(rp.Containers, rc)
		}
	} else if t := as.Templates[r.Revision]; t != nil && len(t.Containers) > 0 {
		// A process replica's containers run, restart and stop together;
		// the first is the process the supervisor watches.
		names := as.Processes[r.Revision]
		if len(names) == 0 {
			names = []string{t.Containers[0].Name}
		}
		for i, name := range names {
			rc := ARMReplicaContainer{Name: name, Ready: r.Ready, RestartCount: r.Restarts, RunningState: "Waiting", RunningStateDetails: r.State}
			if r.PID > 0 && i == 0 {
				rc.ContainerID = fmt.Sprintf("pid://%d", r.PID)
			}
			if running {
				rc.RunningState, rc.RunningStateDetails, rc.Started = "Running", "", true
			}
			rp.Containers = append(rp.Containers, rc)
		}
	}
	return ARMReplica{
		ID:   ARMPrefix + "/containerApps/" + as.App.Name + "/revisions/" + r.Revision + "/replicas/" + r.Name,
		Name: r.Name, Type: "Microsoft.App/containerApps/revisions/replicas", Properties: rp,
	}
}

func (v *armView) component(c *spec.Component) ARMDaprComponent {
	cp := ARMDaprComponentProperties{
		ComponentType: c.Type, Version: c.Version, IgnoreErrors: c.IgnoreErrors, InitTimeout: c.InitTimeout,
		SecretStoreComponent: c.SecretStore, Scopes: c.Scopes, ServiceComponentBind: c.ServiceBinds,
	}
	for _, s := range c.Secrets {
		cp.Secrets = append(cp.Secrets, ARMSecretName{Name: s.Name})
	}
	for _, m := range c.Metadata {
		cp.Metadata = append(cp.Metadata, ARMMetadata{Name: m.Name, Value: m.Value, SecretRef: m.SecretRef})
	}
	return ARMDaprComponent{
		ID:   v.envID() + "/daprComponents/" + c.Name,
		Name: c.Name, Type: "Microsoft.App/managedEnvironments/daprComponents", Properties: cp,
	}
}

func (v *armView) subscription(s *spec.Subscription) ARMDaprSubscription {
	p := ARMDaprSubscriptionProperties{
		PubsubName: s.Pubsub, Topic: s.Topic, DeadLetterTopic: s.DeadLetterTopic,
		Routes: ARMDaprSubscriptionRoutes{Rules: s.Rules, Default: s.Default}, Scopes: s.Scopes, Metadata: s.Metadata,
	}
	if s.Bulk != nil {
		p.BulkSubscribe = &ARMDaprSubscriptionBulk{Enabled: true, MaxMessagesCount: s.Bulk.MaxMessagesCount, MaxAwaitDurationMs: s.Bulk.MaxAwaitDurationMs}
	}
	return ARMDaprSubscription{
		ID:   v.envID() + "/daprSubscriptions/" + s.Name,
		Name: s.Name, Type: "Microsoft.App/managedEnvironments/daprSubscriptions", Properties: p,
	}
}

// envChildren serves a list and a show route of an environment's child
// resources of one type.
func envChildren[S any, A any](handle func(string, func(*armView, *http.Request) (any, *ARMErrorDetail)),
	typ, hint string, all func(*armView) []S, name func(S) string, view func(*armView, S) A) {
	handle("/managedEnvironments/{env}/"+typ, func(v *armView, _ *http.Request) (any, *ARMErrorDetail) {
		out := ARMList[A]{Value: []A{}}
		for _, s := range all(v) {
			out.Value = append(out.Value, view(v, s))
		}
		return out, nil
	})
	handle("/managedEnvironments/{env}/"+typ+"/{name}", func(v *armView, r *http.Request) (any, *ARMErrorDetail) {
		want := r.PathValue("name")
		for _, s := range all(v) {
			if name(s) == want {
				return view(v, s), nil
			}
		}
		return nil, notFound("Microsoft.App/managedEnvironments/"+typ, want, hint)
	})
}

// armRoutes adds the ARM-shaped routes to mux.
func armRoutes(mux *http.ServeMux, m managed) {
	const prefix = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.App"
	armWrites(mux, m, prefix)
	handle := func(pattern string, serve func(v *armView, r *http.Request) (any, *ARMErrorDetail)) {
		mux.HandleFunc("GET "+prefix+pattern, func(w http.ResponseWriter, r *http.Request) {
			v := &armView{spec: m.Spec(), status: m.Status(r.Context())}
			if env := r.PathValue("env"); env != "" && env != v.spec.Name {
				writeARMError(w, notFound("Microsoft.App/managedEnvironments", env, "`cove env show` names this one"))
				return
			}
			out, errd := serve(v, r)
			if errd != nil {
				writeARMError(w, errd)
				return
			}
			if e, ok := out.(*withETag); ok {
				w.Header().Set("ETag", e.etag)
				out = e.v
			}
			writeJSON(w, http.StatusOK, out)
		})
	}
	handle("/managedEnvironments", func(v *armView, _ *http.Request) (any, *ARMErrorDetail) {
		return ARMList[ARMEnvironment]{Value: []ARMEnvironment{v.environment()}}, nil
	})
	handle("/managedEnvironments/{env}", func(v *armView, _ *http.Request) (any, *ARMErrorDetail) {
		return v.environment(), nil
	})
	envChildren(handle, "daprComponents", "`cove env dapr-component list` lists them",
		func(v *armView) []*spec.Component { return v.spec.Components },
		func(c *spec.Component) string { return c.Name }, (*armView).component)
	envChildren(handle, "daprSubscriptions", "the environment file lists them; `cove ps` shows each app's",
		func(v *armView) []*spec.Subscription { return v.spec.Subscriptions },
		func(s *spec.Subscription) string { return s.Name }, (*armView).subscription)
	handle("/containerApps", func(v *armView, _ *http.Request) (any, *ARMErrorDetail) {
		out := ARMList[*spec.ContainerApp]{Value: []*spec.ContainerApp{}}
		for _, as := range v.spec.Apps {
			app, err := v.app(as)
			if err != nil {
				return nil, internalError(err)
			}
			out.Value = append(out.Value, app)
		}
		return out, nil
	})
	withApp := func(pattern string, serve func(v *armView, as AppSpec, st AppStatus, r *http.Request) (any, *ARMErrorDetail)) {
		handle("/containerApps/{app}"+pattern, func(v *armView, r *http.Request) (any, *ARMErrorDetail) {
			name := r.PathValue("app")
			i := slices.IndexFunc(v.spec.Apps, func(as AppSpec) bool { return as.App.Name == name })
			if i < 0 {
				return nil, notFound("Microsoft.App/containerApps", name, "`cove containerapp list` lists them")
			}
			st, _ := v.appStatus(name)
			return serve(v, v.spec.Apps[i], st, r)
		})
	}
	withApp("", func(v *armView, as AppSpec, _ AppStatus, _ *http.Request) (any, *ARMErrorDetail) {
		app, err := v.app(as)
		if err != nil {
			return nil, internalError(err)
		}
		// The ETag is the file's, which a PATCH changes.
		data, err := os.ReadFile(as.Path)
		if err != nil {
			return app, nil
		}
		return &withETag{v: app, etag: etagOf(data)}, nil
	})
	withApp("/revisions", func(v *armView, as AppSpec, st AppStatus, _ *http.Request) (any, *ARMErrorDetail) {
		out := ARMList[ARMRevision]{Value: []ARMRevision{}}
		for _, r := range st.Revisions {
			out.Value = append(out.Value, v.revision(as, r))
		}
		for _, r := range slices.Backward(as.Inactive) {
			out.Value = append(out.Value, v.inactiveRevision(as, r))
		}
		return out, nil
	})
	revision := func(st AppStatus, r *http.Request) (RevisionStatus, *ARMErrorDetail) {
		name := r.PathValue("rev")
		i := slices.IndexFunc(st.Revisions, func(rs RevisionStatus) bool { return rs.Name == name })
		if i < 0 {
			return RevisionStatus{}, notFound("Microsoft.App/containerApps/revisions", name, fmt.Sprintf("`cove containerapp revision list -n %s` lists them", st.Name))
		}
		return st.Revisions[i], nil
	}
	withApp("/revisions/{rev}", func(v *armView, as AppSpec, st AppStatus, r *http.Request) (any, *ARMErrorDetail) {
		if i := slices.IndexFunc(as.Inactive, func(ir InactiveRevision) bool { return ir.Name == r.PathValue("rev") }); i >= 0 {
			return v.inactiveRevision(as, as.Inactive[i]), nil
		}
		rs, errd := revision(st, r)
		if errd != nil {
			return nil, errd
		}
		return v.revision(as, rs), nil
	})
	replicas := func(v *armView, as AppSpec, st AppStatus, r *http.Request) ([]ARMReplica, *ARMErrorDetail) {
		rs, errd := revision(st, r)
		if errd != nil {
			return nil, errd
		}
		out := []ARMReplica{}
		for _, rep := range st.Replicas {
			if rep.Revision == rs.Name {
				out = append(out, v.replica(as, rep))
			}
		}
		return out, nil
	}
	withApp("/revisions/{rev}/replicas", func(v *armView, as AppSpec, st AppStatus, r *http.Request) (any, *ARMErrorDetail) {
		out, errd := replicas(v, as, st, r)
		if errd != nil {
			return nil, errd
		}
		return ARMList[ARMReplica]{Value: out}, nil
	})
	withApp("/revisions/{rev}/replicas/{replica}", func(v *armView, as AppSpec, st AppStatus, r *http.Request) (any, *ARMErrorDetail) {
		out, errd := replicas(v, as, st, r)
		if errd != nil {
			return nil, errd
		}
		name := r.PathValue("replica")
		i := slices.IndexFunc(out, func(rep ARMReplica) bool { return rep.Name == name })
		if i < 0 {
			return nil, notFound("Microsoft.App/containerApps/revisions/replicas", name, fmt.Sprintf("`cove containerapp replica list -n %s` lists them", as.App.Name))
		}
		return out[i], nil
	})
}

func notFound(typ, name, hint string) *ARMErrorDetail {
	return &ARMErrorDetail{Code: "ResourceNotFound", Message: fmt.Sprintf(
		"The Resource '%s/%s' under resource group '%s' was not found; %s.", typ, name, ARMResourceGroup, hint)}
}

func internalError(err error) *ARMErrorDetail {
	return &ARMErrorDetail{Code: "InternalServerError", Message: err.Error()}
}

// armStatus is the HTTP status of each ARM error code cove answers.
var armStatus = map[string]int{
	"ResourceNotFound":              http.StatusNotFound,
	"PreconditionFailed":            http.StatusPreconditionFailed,
	"InvalidRequestContent":         http.StatusBadRequest,
	"ContainerAppInvalidProperties": http.StatusBadRequest,
	"ContainerAppOperationError":    http.StatusConflict,
}

func writeARMError(w http.ResponseWriter, d *ARMErrorDetail) {
	status, ok := armStatus[d.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, ARMError{Error: *d})
}

// ARM gets the ARM resource at path, relative to ARMPrefix, into out.
func (c *Client) ARM(ctx context.Context, path string, out any) error {
	_, err := c.armDo(ctx, http.MethodGet, path, "", nil, out)
	return err
}

// ARMWithETag is ARM that also returns the resource's ETag ("" when it
// has none).
func (c *Client) ARMWithETag(ctx context.Context, path string, out any) (string, error) {
	return c.armDo(ctx, http.MethodGet, path, "", nil, out)
}

// ARMPatch sends a JSON merge patch of the resource at path, on the
// condition that its ETag is still ifMatch when that is not empty, and
// decodes the result into out; it returns the new ETag. It waits as long
// as the change takes to apply.
func (c *Client) ARMPatch(ctx context.Context, path, ifMatch string, patch, out any) (string, error) {
	return c.armDo(ctx, http.MethodPatch, path, ifMatch, patch, out)
}

func (c *Client) armDo(ctx context.Context, method, path, ifMatch string, body, out any) (string, error) {
	if method == http.MethodGet {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, apiTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, ARMPrefix+path+"?api-version="+ARMAPIVersion, rd)
	if err != nil {
		return "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", ErrNotRunning{Socket: c.where}
	}
	defer resp.Body.Close()
	if err := apiErrorOf(resp); err != nil {
		return "", err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.Header.Get("ETag"), nil
	}
	return resp.Header.Get("ETag"), json.NewDecoder(resp.Body).Decode(out)
}

// ARMPut creates the resource at path from body and decodes the result
// into out. It waits as long as the change takes to apply.
func (c *Client) ARMPut(ctx context.Context, path string, body, out any) error {
	_, err := c.armDo(ctx, http.MethodPut, path, "", body, out)
	return err
}

// ARMDelete deletes the resource at path, waiting until it has stopped.
func (c *Client) ARMDelete(ctx context.Context, path string) error {
	_, err := c.armDo(ctx, http.MethodDelete, path, "", nil, nil)
	return err
}

// ARMPost posts to an action of a resource (listSecrets) and decodes the
// answer into out.
func (c *Client) ARMPost(ctx context.Context, path string, out any) error {
	_, err := c.armDo(ctx, http.MethodPost, path, "", nil, out)
	return err
}

// ARMAPIVersion is the Microsoft.App API version whose shapes the
// ARM-shaped routes follow.
const ARMAPIVersion = "2024-03-01"
