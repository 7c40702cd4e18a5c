package cli

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/control"
)

func TestPrintStatus(t *testing.T) {
	st := control.Status{Apps: []control.AppStatus{
		{
			Name: "web", Revision: "web--def", Ingress: "external",
			URLs: []string{"http://web.localhost:8080", "https://web.localhost:8443"},
			Revisions: []control.RevisionStatus{
				{Name: "web--def", State: "active", Latest: true, Weight: 20, Labels: []string{"canary"}, Replicas: 1, Ready: 1},
				{Name: "web--abc", State: "active", Weight: 80, Labels: []string{"stable", "blue"}, Replicas: 2, Ready: 1},
			},
			Replicas: []control.ReplicaStatus{
				{Name: "web--def-0", Revision: "web--def", PID: 30, State: "Ready", Ready: true, Port: 4000},
				{Name: "web--abc-0", Revision: "web--abc", PID: 10, State: "Ready", Ready: true, Port: 4001},
				{Name: "web--abc-1", Revision: "web--abc", PID: 11, State: "Running", Restarts: 2, Port: 4002},
			},
		},
		{
			Name: "bad", Revision: "bad--x", Ingress: "internal", URLs: []string{"http://bad (inside the environment)"},
			Problem:   "replica bad--x-0 exited (exit status 3); 2 restarts, restarting with a backoff",
			Revisions: []control.RevisionStatus{{Name: "bad--x", State: "active", Latest: true, Weight: 100, Replicas: 1}},
			Replicas:  []control.ReplicaStatus{{Name: "bad--x-0", Revision: "bad--x", State: "Restarting", Restarts: 2, Port: 4004}},
		},
		{
			Name: "worker", Revision: "worker--x", Ingress: "none", DaprAppID: "worker",
			Revisions: []control.RevisionStatus{{Name: "worker--x", State: "active", Latest: true, Weight: 100, Replicas: 1, Ready: 1}},
			Replicas:  []control.ReplicaStatus{{Name: "worker--x-0", Revision: "worker--x", PID: 40, State: "Ready", Ready: true, Port: 4003, DaprHTTPPort: 5000, DaprGRPCPort: 5001}},
			Subscriptions: []control.SubscriptionStatus{
				{Pubsub: "pubsub", Topic: "orders", Routes: []string{"/urgent", "/orders"}, Rules: []string{`event.type == "urgent"`, ""}, DeadLetterTopic: "poison"},
				{Pubsub: "pubsub", Topic: "audit", Routes: []string{""}},
			},
		},
	}}
	var out bytes.Buffer
	if err := printStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	want := `APP     INGRESS   READY  URL
web     external  2/3    http://web.localhost:8080 https://web.localhost:8443
✗ bad   internal  0/1    http://bad (inside the environment)
worker  none      1/1    -
✗ bad is not ready: replica bad--x-0 exited (exit status 3); 2 restarts, restarting with a backoff; ` + "`cove logs bad`" + ` shows why

APP     REVISION   REPLICA      PID  STATE       READY  RESTARTS  PORT  DAPR_HTTP_PORT  DAPR_GRPC_PORT
web     web--def   web--def-0   30   Ready       true   0         4000  -               -
web     web--abc   web--abc-0   10   Ready       true   0         4001  -               -
web     web--abc   web--abc-1   11   Running     false  2         4002  -               -
bad     bad--x     bad--x-0     -    Restarting  false  2         4004  -               -
worker  worker--x  worker--x-0  40   Ready       true   0         4003  5000            5001

APP     REVISION   STATE            TRAFFIC  LABELS       READY
web     web--def   active (latest)  20%      canary       1/1
web     web--abc   active           80%      stable,blue  1/2
bad     bad--x     active (latest)  100%     -            0/1
worker  worker--x  active (latest)  -        -            1/1

APP     PUBSUB  TOPIC   ROUTES                                      DEAD_LETTER_TOPIC
worker  pubsub  orders  /urgent if event.type == "urgent"; /orders  poison
worker  pubsub  audit   (OnTopicEvent)                              -
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("cove ps (-want +got):\n%s", diff)
	}
}

func TestPrintReload(t *testing.T) {
	tests := []struct {
		name   string
		res    control.ReloadResult
		out    string
		errOut string
	}{
		{name: "nothing", out: "nothing to apply\n"},
		{
			name: "everything",
			res: control.ReloadResult{
				Applied:      []string{"api", "web"},
				Revisions:    []string{"web: web--abc → web--def", "api: api--old stopped (the ingress traffic gives it neither weight nor label)"},
				NeedsRestart: []string{"app worker: its Dapr settings changed"},
				Errors:       []string{"app db keeps its current revision: new revision db--x: replica db--x-0 exited before it was ready (exit status 1)"},
			},
			out: `applied the configuration of: api, web
revisions:
  web: web--abc → web--def
  api: api--old stopped (the ingress traffic gives it neither weight nor label)
these changes need a restart (cove down, then cove up):
  - app worker: its Dapr settings changed
`,
			errOut: "error: app db keeps its current revision: new revision db--x: replica db--x-0 exited before it was ready (exit status 1)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			printReload(&out, &errOut, tt.res)
			if diff := cmp.Diff(tt.out, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errOut, errOut.String()); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConsoleLabelsAcrossRevisions(t *testing.T) {
	var out bytes.Buffer
	c := newConsole(&out, false)
	c.Line("web", "web--abc-0", "stdout", []byte("one"))
	c.Line("web", "web--abc-1", "stdout", []byte("two"))
	c.Line("web", "web--def-0", "stdout", []byte("three"))
	c.Line("web", "web--abc-0", "stdout", []byte("four"))
	want := `web--abc-0   | one
web--abc-1   | two
web--def-0   | three
web--abc-0   | four
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

// TestPrintStatusAppOnAnotherPort checks that `cove ps` says when a replica
// listens on other ports than its PORT.
func TestPrintStatusAppOnAnotherPort(t *testing.T) {
	st := control.Status{Apps: []control.AppStatus{{
		Name: "quick", Revision: "quick--x", Ingress: "none", DaprAppID: "quick",
		Problem:   "replica quick--x-0 listens on 6006, not on its PORT 4005: make the app listen on the port in $PORT",
		Revisions: []control.RevisionStatus{{Name: "quick--x", State: "active", Latest: true, Weight: 100, Replicas: 1, Ready: 1}},
		Replicas: []control.ReplicaStatus{{Name: "quick--x-0", Revision: "quick--x", PID: 50, State: "Ready", Ready: true,
			Port: 4005, DaprHTTPPort: 5000, DaprGRPCPort: 5001, ListenPorts: []int{6006}}},
	}}}
	var out bytes.Buffer
	if err := printStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"✗ quick is not ready: replica quick--x-0 listens on 6006, not on its PORT 4005: make the app listen on the port in $PORT",
		"quick--x-0  50   Ready (listens on 6006, not PORT)  true",
	} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("cove ps lacks %q:\n%s", want, out.String())
		}
	}
}
