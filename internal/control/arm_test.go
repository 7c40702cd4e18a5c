package control

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/spec"
)

const armTestApp = `name: api
properties:
  configuration:
    activeRevisionsMode: Multiple
    secrets:
      - name: db-password
        value: hunter2
    ingress:
      external: false
      targetPort: 8000
      traffic:
        - revisionName: api--v2
          weight: 100
    dapr:
      enabled: true
      appId: api
      appPort: 8000
  template:
    revisionSuffix: v2
    containers:
      - name: api
        image: api:latest
        env:
          - name: DB_PASSWORD
            secretRef: db-password
    scale:
      minReplicas: 1
      maxReplicas: 1
`

// armFake is an environment with one app of two revisions (v2 active and
// ready, running a second container, v1 stopping) and one component.
func armFake(t *testing.T) *fakeManaged {
	t.Helper()
	app, probs := spec.ParseContainerApp("api.yaml", []byte(armTestApp))
	if probs.Err() != nil {
		t.Fatal(probs)
	}
	old := *app.Properties.Template
	old.RevisionSuffix = "v1"
	return &fakeManaged{
		spec: EnvSpec{Name: "shop", Domain: "shop.localhost",
			Apps: []AppSpec{{App: app, Templates: map[string]*spec.Template{"api--v2": app.Properties.Template, "api--v1": &old},
				Processes: map[string][]string{"api--v2": {"api", "logger"}, "api--v1": {"api"}}}},
			Components: []*spec.Component{{Name: "statestore", Type: "state.redis", Version: "v1",
				Metadata: []spec.MetadataItem{{Name: "redisHost", Value: "localhost:6379"}, {Name: "redisPassword", SecretRef: "pw"}},
				Secrets:  []spec.Secret{{Name: "pw", Value: "secret"}}, Scopes: []string{"api"}}},
			Subscriptions: []*spec.Subscription{{Name: "orders", Pubsub: "pubsub", Topic: "orders", Scopes: []string{"api"},
				Rules: []spec.SubscriptionRule{{Match: `event.type == "big"`, Path: "/big"}}, Default: "/orders",
				DeadLetterTopic: "poison", Bulk: &spec.SubscriptionBulk{MaxMessagesCount: 10}}},
		},
		status: Status{Name: "shop", Edge: EdgeStatus{HTTP: "127.0.0.1:8080"}, Apps: []AppStatus{{
			Name: "api", Revision: "api--v2", Ingress: "internal",
			Revisions: []RevisionStatus{
				{Name: "api--v2", State: "active", Latest: true, Weight: 100, Replicas: 1, Ready: 1},
				{Name: "api--v1", State: "stopping", Replicas: 1},
			},
			Replicas: []ReplicaStatus{
				{Name: "api--v2-0", Revision: "api--v2", PID: 42, State: "Ready", Ready: true, Restarts: 1},
				{Name: "api--v1-0", Revision: "api--v1", State: "Stopped", LastExit: "exit status 1"},
			},
		}}},
	}
}

func TestARMContainerApp(t *testing.T) {
	f := armFake(t)
	c := serveAPI(t, f)
	var raw json.RawMessage
	if err := c.ARM(t.Context(), "/containerApps/api", &raw); err != nil {
		t.Fatal(err)
	}
	var app spec.ContainerApp
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	p := app.Properties
	got := map[string]string{
		"id": app.ID, "type": app.Type, "managedEnvironmentId": p.ManagedEnvironmentID,
		"provisioningState": p.ProvisioningState, "runningStatus": p.RunningStatus,
		"latestRevisionName": p.LatestRevisionName, "latestReadyRevisionName": p.LatestReadyRevisionName,
		"latestRevisionFqdn": p.LatestRevisionFqdn, "fqdn": p.Configuration.Ingress.FQDN,
		"secret":     p.Configuration.Secrets[0].Name + "=" + p.Configuration.Secrets[0].Value,
		"dapr.appId": p.Configuration.Dapr.AppID,
	}
	want := map[string]string{
		"id":                   "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cove/providers/Microsoft.App/containerApps/api",
		"type":                 "Microsoft.App/containerApps",
		"managedEnvironmentId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/cove/providers/Microsoft.App/managedEnvironments/shop",
		"provisioningState":    "Succeeded", "runningStatus": "Running",
		"latestRevisionName": "api--v2", "latestReadyRevisionName": "api--v2",
		"latestRevisionFqdn": "api--v2.internal.shop.localhost", "fqdn": "api.internal.shop.localhost",
		"secret": "db-password=", "dapr.appId": "api",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	if strings.Contains(string(raw), "hunter2") {
		t.Errorf("the app's secret value is served:\n%s", raw)
	}
	// What show prints is accepted back as an app file.
	if _, probs := spec.ParseContainerApp("show.json", raw); probs.Err() != nil {
		t.Errorf("the served app does not parse back: %v\n%s", probs, raw)
	}
	// The controller's spec is not changed by serving it.
	if f.spec.Apps[0].App.Properties.Configuration.Secrets[0].Value != "hunter2" || f.spec.Apps[0].App.ID != "" {
		t.Error("serving the app changed the controller's spec")
	}
	var list ARMList[spec.ContainerApp]
	if err := c.ARM(t.Context(), "/containerApps", &list); err != nil || len(list.Value) != 1 || list.Value[0].Name != "api" {
		t.Errorf("list = %+v, %v; want the app", list, err)
	}
}

func TestARMRevisionsAndReplicas(t *testing.T) {
	c := serveAPI(t, armFake(t))
	var revs ARMList[ARMRevision]
	if err := c.ARM(t.Context(), "/containerApps/api/revisions", &revs); err != nil {
		t.Fatal(err)
	}
	type rev struct {
		Name, Provisioning, Running, Health, Suffix string
		Active                                      bool
		Weight                                      int
	}
	var got []rev
	for _, r := range revs.Value {
		p := r.Properties
		got = append(got, rev{r.Name, p.ProvisioningState, p.RunningState, p.HealthState, p.Template.RevisionSuffix, p.Active, p.TrafficWeight})
	}
	want := []rev{
		{"api--v2", "Provisioned", "Running", "Healthy", "v2", true, 100},
		{"api--v1", "Deprovisioning", "Stopped", "None", "v1", false, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revisions (-want +got):\n%s", diff)
	}
	var reps ARMList[ARMReplica]
	if err := c.ARM(t.Context(), "/containerApps/api/revisions/api--v2/replicas", &reps); err != nil {
		t.Fatal(err)
	}
	wantRep := []ARMReplica{{
		ID:   ARMPrefix + "/containerApps/api/revisions/api--v2/replicas/api--v2-0",
		Name: "api--v2-0", Type: "Microsoft.App/containerApps/revisions/replicas",
		Properties: ARMReplicaProperties{RunningState: "Running", Containers: []ARMReplicaContainer{
			{Name: "api", ContainerID: "pid://42", Ready: true, Started: true, RestartCount: 1, RunningState: "Running"},
			{Name: "logger", Ready: true, Started: true, RestartCount: 1, RunningState: "Running"},
		}},
	}}
	if diff := cmp.Diff(wantRep, reps.Value); diff != "" {
		t.Errorf("replicas (-want +got):\n%s", diff)
	}
	var rep ARMReplica
	if err := c.ARM(t.Context(), "/containerApps/api/revisions/api--v1/replicas/api--v1-0", &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Properties.RunningState != "NotRunning" || !strings.Contains(rep.Properties.RunningStateDetails, "exit status 1") {
		t.Errorf("stopped replica = %+v, want NotRunning with its last exit", rep.Properties)
	}
}

func TestARMEnvironmentAndComponents(t *testing.T) {
	c := serveAPI(t, armFake(t))
	var env ARMEnvironment
	if err := c.ARM(t.Context(), "/managedEnvironments/shop", &env); err != nil {
		t.Fatal(err)
	}
	if env.Name != "shop" || env.Properties.DefaultDomain != "shop.localhost" || env.Properties.StaticIP != "127.0.0.1" || env.Properties.ProvisioningState != "Succeeded" {
		t.Errorf("environment = %+v", env)
	}
	var comp ARMDaprComponent
	if err := c.ARM(t.Context(), "/managedEnvironments/shop/daprComponents/statestore", &comp); err != nil {
		t.Fatal(err)
	}
	want := ARMDaprComponentProperties{ComponentType: "state.redis", Version: "v1",
		Secrets:  []ARMSecretName{{Name: "pw"}},
		Metadata: []ARMMetadata{{Name: "redisHost", Value: "localhost:6379"}, {Name: "redisPassword", SecretRef: "pw"}},
		Scopes:   []string{"api"}}
	if diff := cmp.Diff(want, comp.Properties); diff != "" {
		t.Errorf("component (-want +got):\n%s", diff)
	}

	var subs ARMList[ARMDaprSubscription]
	if err := c.ARM(t.Context(), "/managedEnvironments/shop/daprSubscriptions", &subs); err != nil {
		t.Fatal(err)
	}
	wantSub := []ARMDaprSubscription{{
		ID:   ARMPrefix + "/managedEnvironments/shop/daprSubscriptions/orders",
		Name: "orders", Type: "Microsoft.App/managedEnvironments/daprSubscriptions",
		Properties: ARMDaprSubscriptionProperties{PubsubName: "pubsub", Topic: "orders", DeadLetterTopic: "poison",
			Routes: ARMDaprSubscriptionRoutes{Rules: []spec.SubscriptionRule{{Match: `event.type == "big"`, Path: "/big"}}, Default: "/orders"},
			Scopes: []string{"api"}, BulkSubscribe: &ARMDaprSubscriptionBulk{Enabled: true, MaxMessagesCount: 10}},
	}}
	if diff := cmp.Diff(wantSub, subs.Value); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}
	var sub ARMDaprSubscription
	if err := c.ARM(t.Context(), "/managedEnvironments/shop/daprSubscriptions/orders", &sub); err != nil || sub.Properties.Topic != "orders" {
		t.Errorf("subscription orders: %+v, %v", sub, err)
	}
}

func TestARMNotFound(t *testing.T) {
	c := serveAPI(t, armFake(t))
	for path, want := range map[string]string{
		"/containerApps/nope":                             "(ResourceNotFound) The Resource 'Microsoft.App/containerApps/nope' under resource group 'cove' was not found; `cove containerapp list` lists them.",
		"/containerApps/api/revisions/api--v9":            "Microsoft.App/containerApps/revisions/api--v9",
		"/containerApps/api/revisions/api--v2/replicas/x": "`cove containerapp replica list -n api` lists them",
		"/managedEnvironments/other":                      "Microsoft.App/managedEnvironments/other",
		"/managedEnvironments/shop/daprComponents/nope":   "daprComponents/nope",
		"/managedEnvironments/shop/daprSubscriptions/x":   "daprSubscriptions/x",
	} {
		err := c.ARM(t.Context(), path, &json.RawMessage{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("GET %s: %v, want an error with %q", path, err, want)
		}
	}
	// Any subscription and resource group reach the same resources.
	status, body, _ := get(t, c, "GET", "/subscriptions/x/resourceGroups/my-rg/providers/Microsoft.App/containerApps/api?api-version=2025-01-01")
	if status != 200 || !strings.Contains(body, `"latestRevisionName": "api--v2"`) {
		t.Errorf("another resource group: %d %s", status, body)
	}
}
