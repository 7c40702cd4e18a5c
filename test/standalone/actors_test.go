package standalone

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/go-sdk/actor"
	dapr "github.com/dapr/go-sdk/client"
	daprhttp "github.com/dapr/go-sdk/service/http"

	"github.com/cove-env/cove/internal/testaddr"
	"github.com/cove-env/cove/internal/testlog"
	"github.com/cove-env/cove/test/internal/testenv"
)

// WhereActor answers with the app that runs it; a call that finds
// another of the same actor running fails.
type WhereActor struct {
	actor.ServerImplBaseCtx
	app     string
	running *sync.Map // actor id → *atomic.Int32
}

func (a *WhereActor) Type() string { return "Where" }

func (a *WhereActor) Where(context.Context) (string, error) {
	n, _ := a.running.LoadOrStore(a.ID(), new(atomic.Int32))
	defer n.(*atomic.Int32).Add(-1)
	if n.(*atomic.Int32).Add(1) > 1 {
		return "", fmt.Errorf("two calls of %s at once on %s", a.ID(), a.app)
	}
	time.Sleep(time.Millisecond)
	return a.app, nil
}

type whereClient struct {
	id    string
	Where func(context.Context) (string, error)
}

func (c *whereClient) Type() string { return "Where" }
func (c *whereClient) ID() string   { return c.id }

// runWhereApp serves the Where actor with the Go SDK's service/http, as
// the test binary run again (COVE_STANDALONE_APP=where): the SDK's actor
// runtime finds its sidecar through DAPR_GRPC_PORT.
func runWhereApp() int {
	svc := daprhttp.NewService("127.0.0.1:" + os.Getenv("APP_PORT"))
	running := &sync.Map{}
	name := os.Getenv("APP_NAME")
	svc.RegisterActorImplFactoryContext(func() actor.ServerContext { return &WhereActor{app: name, running: running} })
	fmt.Fprintln(os.Stderr, svc.Start())
	return 1
}

// startWhereApp starts the Where app for a sidecar on grpcPort.
func startWhereApp(t *testing.T, name string, appPort, grpcPort int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "COVE_STANDALONE_APP=where", "APP_NAME="+name,
		"APP_PORT="+strconv.Itoa(appPort), "DAPR_GRPC_PORT="+strconv.Itoa(grpcPort))
	runProc(t, name, cmd)
}

// startPlacement runs a placement service on a free port: argv is `cove
// placement` or Dapr's placement binary, which take the same flags.
func startPlacement(t *testing.T, argv ...string) int {
	t.Helper()
	port := testaddr.FreePort(t)
	args := append(argv[1:], "--port", strconv.Itoa(port), "--listen-address", "127.0.0.1",
		"--healthz-port", strconv.Itoa(testaddr.FreePort(t)), "--metrics-port", strconv.Itoa(testaddr.FreePort(t)))
	runProc(t, "placement", exec.Command(argv[0], args...))
	return port
}

// runProc starts cmd, killed when the test ends; its output is logged when
// the test failed.
func runProc(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	out := &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

// TestActorsAcrossSidecarsWithCovePlacement runs two `cove sidecar`s, each
// beside a Go SDK app hosting the Where actor, with `cove placement`: every
// actor, called through either sidecar with the SDK's actor proxy, runs on
// one app, both apps get actors, and calls of one actor never overlap.
func TestActorsAcrossSidecarsWithCovePlacement(t *testing.T) {
	paddr := "127.0.0.1:" + strconv.Itoa(startPlacement(t, coveBin, "placement"))
	sidecars := coveWhereSidecars(t, paddr)
	checkWhereAcross(t, grpcPortsOf(sidecars))
	// The metadata API reports the placement as daprd does.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/metadata", sidecars[0].httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		ActorRuntime struct {
			RuntimeStatus string `json:"runtimeStatus"`
			Placement     string `json:"placement"`
			ActiveActors  []struct {
				Type  string `json:"type"`
				Count int    `json:"count"`
			} `json:"activeActors"`
		} `json:"actorRuntime"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if a := md.ActorRuntime; a.RuntimeStatus != "RUNNING" || a.Placement != "placement: connected" || len(a.ActiveActors) != 1 || a.ActiveActors[0].Count == 0 {
		t.Errorf("metadata actorRuntime = %+v", a)
	}
}

// TestActorsCoveSidecarsWithDaprPlacement is the same with Dapr's
// placement binary (COVE_PLACEMENT_BIN, built from Dapr 1.18's source).
func TestActorsCoveSidecarsWithDaprPlacement(t *testing.T) {
	bin := os.Getenv("COVE_PLACEMENT_BIN")
	if bin == "" {
		t.Skip("COVE_PLACEMENT_BIN (Dapr's placement binary) is not set")
	}
	paddr := "127.0.0.1:" + strconv.Itoa(startPlacement(t, bin))
	checkWhereAcross(t, grpcPortsOf(coveWhereSidecars(t, paddr)))
}

// TestActorsDaprdWithCovePlacement runs two daprd 1.18 sidecars
// (COVE_DAPRD_BIN) with `cove placement`, each beside a Where app: daprd
// takes cove's tables, and both daprds place every actor alike.
func TestActorsDaprdWithCovePlacement(t *testing.T) {
	bin := os.Getenv("COVE_DAPRD_BIN")
	if bin == "" {
		t.Skip("COVE_DAPRD_BIN (a daprd 1.18 binary) is not set")
	}
	paddr := "127.0.0.1:" + strconv.Itoa(startPlacement(t, coveBin, "placement"))
	res := t.TempDir()
	if err := os.WriteFile(res+"/state.yaml", []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: actorstore}
spec:
  type: state.in-memory
  version: v1
  metadata: [{name: actorStateStore, value: "true"}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var grpcPorts []int
	for _, name := range []string{"daprd-a", "daprd-b"} {
		appPort, httpPort, grpcPort := testaddr.FreePort(t), testaddr.FreePort(t), testaddr.FreePort(t)
		runProc(t, name+" sidecar", exec.Command(bin, "--app-id", "where", "--app-port", strconv.Itoa(appPort),
			"--dapr-http-port", strconv.Itoa(httpPort), "--dapr-grpc-port", strconv.Itoa(grpcPort),
			"--dapr-internal-grpc-port", strconv.Itoa(testaddr.FreePort(t)), "--metrics-port", strconv.Itoa(testaddr.FreePort(t)),
			"--dapr-listen-addresses", "127.0.0.1", "--placement-host-address", paddr, "--resources-path", res,
			"--log-level", "debug"))
		startWhereApp(t, name, appPort, grpcPort)
		grpcPorts = append(grpcPorts, grpcPort)
	}
	checkWhereAcross(t, grpcPorts)
}

// coveWhereSidecars starts two `cove sidecar`s with the placement service
// at paddr, each beside a Where app.
func coveWhereSidecars(t *testing.T, paddr string) []*proc {
	s := newShared(t)
	var out []*proc
	for _, name := range []string{"app-a", "app-b"} {
		appPort := testaddr.FreePort(t)
		p := s.sidecar(t, "where", appPort, "--placement-host-address", paddr)
		startWhereApp(t, name, appPort, p.grpcPort)
		out = append(out, p)
	}
	return out
}

func grpcPortsOf(ps []*proc) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.grpcPort)
	}
	return out
}

// checkWhereAcross calls Where actors through each sidecar's gRPC API with
// the SDK's actor proxy: actors spread over both apps, each actor runs on
// the same app whichever sidecar it is called through, and 100 calls of
// one actor at once through both run one at a time (the actor fails a
// call that finds another running).
func checkWhereAcross(t *testing.T, grpcPorts []int) {
	t.Helper()
	clients := make([]dapr.Client, len(grpcPorts))
	for i, port := range grpcPorts {
		c, err := dapr.NewClientWithAddressContext(t.Context(), "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		clients[i] = c
	}
	where := func(c dapr.Client, id string) (string, error) {
		stub := &whereClient{id: id}
		c.ImplActorClientStub(stub)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		return stub.Where(ctx)
	}
	// Both apps are in the table once an actor of each runs: the sidecars
	// read /dapr/config when their app is up, then report to placement.
	ok := testenv.Poll(60*time.Second, 200*time.Millisecond, func() bool {
		apps := map[string]bool{}
		for i := range 20 {
			for _, c := range clients {
				app, err := where(c, fmt.Sprint("w-", i))
				if err != nil {
					return false
				}
				apps[app] = true
			}
		}
		return len(apps) == 2
	})
	if !ok {
		t.Fatal("actors did not spread over both apps within 60s")
	}
	for i := range 40 {
		id := fmt.Sprint("w-", i)
		var got []string
		for _, c := range clients {
			app, err := where(c, id)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			got = append(got, app)
		}
		if got[0] != got[1] {
			t.Fatalf("actor %s ran on %s through one sidecar and on %s through the other", id, got[0], got[1])
		}
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			if _, err := where(clients[i%2], "hot"); err != nil {
				t.Errorf("hot call: %v", err)
			}
		})
	}
	wg.Wait()
}
