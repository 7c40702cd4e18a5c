package sidecar

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/components/componenttest"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/testlog"
)

// actorRuntime is app appID's actor runtime over p; without o.Scheduler,
// its reminders are jobs of a scheduler of its own.
func actorRuntime(t *testing.T, appID string, p *actors.Placement, o actors.Options) *actors.Runtime {
	t.Helper()
	if o.Scheduler == nil {
		s, err := jobs.Open(t.Context(), filepath.Join(t.TempDir(), "jobs.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		o.Scheduler = s
	}
	rt, err := actors.New(appID, p, o)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// newActorApp is an app hosting actor type Cart: it answers its config,
// methods (echoing what it got) and deactivations.
func newActorApp(t *testing.T) *httptest.Server {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dapr/config" {
			fmt.Fprint(w, `{"entities":["Cart"],"actorIdleTimeout":"1h"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.Path, r.Header.Get("X-Trace"), body)
	}))
	t.Cleanup(app.Close)
	return app
}

func TestActorAPI(t *testing.T) {
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := actors.NewPlacement()
	app := newActorApp(t)
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := newEnv(t, Config{AppID: "shop", AppAddr: app.Listener.Addr().String(), GRPCListener: glis,
		Actors: actorRuntime(t, "shop", p, actors.Options{Store: store, Logger: slog.New(slog.DiscardHandler)})})
	// A sidecar whose app hosts no actors calls them all the same.
	caller := newEnv(t, Config{AppID: "web", Actors: actorRuntime(t, "web", p, actors.Options{})})

	deadline := time.Now().Add(5 * time.Second)
	for host.sc.actorHost() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the sidecar did not host the app's actors")
		}
		time.Sleep(10 * time.Millisecond)
	}

	for _, verb := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		resp, body := do(t, verb, caller.url+"/v1.0/actors/Cart/c1/method/add", "apple", http.Header{"X-Trace": {"t1"}})
		if resp.StatusCode != http.StatusOK || string(body) != "PUT /actors/Cart/c1/method/add t1 apple" {
			t.Fatalf("%s: %d %q", verb, resp.StatusCode, body)
		}
	}
	resp, body := do(t, http.MethodPost, caller.url+"/v1.0/actors/Nope/c1/method/add", "", nil)
	wantDaprError(t, resp, body, http.StatusNotFound, "ERR_ACTOR_NO_ADDRESS")

	// State: on the hosting sidecar only.
	resp, body = do(t, http.MethodPost, host.url+"/v1.0/actors/Cart/c1/state",
		`[{"operation":"upsert","request":{"key":"items","value":["apple"]}},{"operation":"delete","request":{"key":"old"}}]`, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("transaction: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodGet, host.url+"/v1.0/actors/Cart/c1/state/items", "", nil)
	if resp.StatusCode != http.StatusOK || string(body) != `["apple"]` {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
	got, err := store.Get(t.Context(), &cstate.GetRequest{Key: "shop||Cart||c1||items"})
	if err != nil || string(got.Data) != `["apple"]` {
		t.Fatalf("the store under Dapr's key: %q %v", got.Data, err)
	}
	resp, _ = do(t, http.MethodGet, host.url+"/v1.0/actors/Cart/c1/state/none", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("missing key: %d", resp.StatusCode)
	}
	resp, body = do(t, http.MethodGet, caller.url+"/v1.0/actors/Cart/c1/state/items", "", nil)
	wantDaprError(t, resp, body, http.StatusInternalServerError, "ERR_ACTOR_RUNTIME_NOT_FOUND")
	resp, body = do(t, http.MethodPost, host.url+"/v1.0/actors/Cart/c1/state", `[{"operation":"merge","request":{"key":"k"}}]`, nil)
	wantDaprError(t, resp, body, http.StatusBadRequest, "ERR_NOT_SUPPORTED_STATE_OPERATION")
	resp, body = do(t, http.MethodPost, host.url+"/v1.0/actors/Cart/c1/timers/t", `{"period":"every minute"}`, nil)
	if msg := wantDaprError(t, resp, body, http.StatusBadRequest, "ERR_MALFORMED_REQUEST"); !strings.Contains(msg, "period") {
		t.Fatalf("bad period: %s", msg)
	}

	// gRPC: the same calls.
	conn, err := grpc.NewClient(glis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := runtimev1pb.NewDaprClient(conn)
	ir, err := c.InvokeActor(t.Context(), &runtimev1pb.InvokeActorRequest{ActorType: "Cart", ActorId: "c2", Method: "add", Data: []byte("pear")})
	if err != nil || string(ir.GetData()) != "PUT /actors/Cart/c2/method/add  pear" {
		t.Fatalf("InvokeActor: %q %v", ir.GetData(), err)
	}
	_, err = c.ExecuteActorStateTransaction(t.Context(), &runtimev1pb.ExecuteActorStateTransactionRequest{ActorType: "Cart", ActorId: "c2",
		Operations: []*runtimev1pb.TransactionalActorStateOperation{{OperationType: "upsert", Key: "k", Value: &anypb.Any{Value: []byte("raw")}}}})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := c.GetActorState(t.Context(), &runtimev1pb.GetActorStateRequest{ActorType: "Cart", ActorId: "c2", Key: "k"})
	if err != nil || string(gr.GetData()) != "raw" {
		t.Fatalf("GetActorState: %q %v", gr.GetData(), err)
	}

	md := host.sc.Metadata().ActorRuntime
	if md.Status != "RUNNING" || !md.HostReady || len(md.ActiveActors) != 1 || md.ActiveActors[0] != (ActiveActorsCount{Type: "Cart", Count: 2}) {
		t.Fatalf("metadata's actor runtime: %+v", md)
	}

	// An unhealthy app leaves the placement, and joins it again.
	host.sc.SetAppHealthy(false)
	resp, body = do(t, http.MethodPost, caller.url+"/v1.0/actors/Cart/c1/method/add", "", nil)
	wantDaprError(t, resp, body, http.StatusNotFound, "ERR_ACTOR_NO_ADDRESS")
	host.sc.SetAppHealthy(true)
	deadline = time.Now().Add(5 * time.Second)
	for {
		resp, _ = do(t, http.MethodPost, caller.url+"/v1.0/actors/Cart/c1/method/add", "", nil)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not hosting again once healthy: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Without a placement (cove sidecar) the actor API answers daprd's error.
func TestActorAPIWithoutPlacement(t *testing.T) {
	e := newEnv(t, Config{})
	resp, body := do(t, http.MethodPost, e.url+"/v1.0/actors/Cart/c1/method/add", "", nil)
	wantDaprError(t, resp, body, http.StatusBadRequest, "ERR_ACTOR_NO_PLACEMENT")
}

// An app whose every path answers 200 with text hosts no actors, without
// an error.
func TestActorHostingIgnoresACatchAllRoute(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
	defer app.Close()
	var logs testlog.Buffer
	e := newEnv(t, Config{AppID: "web", AppAddr: app.Listener.Addr().String(), Actors: actorRuntime(t, "web", actors.NewPlacement(), actors.Options{}),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	waitConfigRead(t, e.sc, 5*time.Second)
	if e.sc.actorHost() != nil {
		t.Fatal("an app answering text hosts actors")
	}
	if s := logs.String(); s != "" {
		t.Fatalf("logged %q", s)
	}
}

// An app that never answers /dapr/config hosts nothing once the wait for it
// ends.
func TestActorHostingGivesUpOnAnAppThatNeverAnswers(t *testing.T) {
	defer func(d time.Duration) { configTimeout = d }(configTimeout)
	configTimeout = 100 * time.Millisecond
	hang := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer app.Close()
	defer close(hang)
	e := newEnv(t, Config{AppID: "web", AppAddr: app.Listener.Addr().String(), Actors: actorRuntime(t, "web", actors.NewPlacement(), actors.Options{})})
	waitConfigRead(t, e.sc, 2*time.Second)
}

// waitConfigRead waits until the sidecar has read (or given up on) its
// app's /dapr/config.
func waitConfigRead(t *testing.T, sc *Sidecar, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		sc.actorMu.Lock()
		h := sc.hosting
		sc.actorMu.Unlock()
		if h != nil {
			select {
			case <-h.done:
			case <-time.After(time.Until(deadline)):
				t.Fatal("the app's /dapr/config was neither read nor given up on in time")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no hosting started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
