package sidecar

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	actorerr "github.com/dapr/go-sdk/actor/error"
	dapr "github.com/dapr/go-sdk/client"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/components/componenttest"
	cstate "github.com/cove-env/cove/internal/components/state"
)

// streamActors is a gRPC app's actors, served over the actor callback
// stream by the Go SDK's client: it records every callback.
type streamActors struct {
	mu     sync.Mutex
	events []string
}

func (s *streamActors) note(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *streamActors) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func (s *streamActors) RegisteredActorTypes() []string { return []string{"Cart"} }

func (s *streamActors) InvokeActorMethod(_ context.Context, typ, id, method string, payload []byte) ([]byte, actorerr.ActorErr) {
	if method == "missing" {
		return nil, actorerr.ErrActorMethodNoFound
	}
	s.note("invoke " + typ + "/" + id + " " + method)
	return []byte(method + ":" + string(payload)), actorerr.Success
}

func (s *streamActors) InvokeReminder(_ context.Context, typ, id, name string, params []byte) actorerr.ActorErr {
	s.note("reminder " + typ + "/" + id + " " + name + " " + string(params))
	return actorerr.Success
}

func (s *streamActors) InvokeTimer(_ context.Context, typ, id, name string, params []byte) actorerr.ActorErr {
	s.note("timer " + typ + "/" + id + " " + name + " " + string(params))
	return actorerr.Success
}

func (s *streamActors) Deactivate(_ context.Context, typ, id string) actorerr.ActorErr {
	s.note("deactivate " + typ + "/" + id)
	return actorerr.Success
}

// waitSeen polls a's callbacks for one that starts with prefix.
func (s *streamActors) waitSeen(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range s.seen() {
			if strings.HasPrefix(e, prefix) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no callback %q in %q", prefix, s.seen())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A gRPC app hosts actors as in Dapr 1.18: it opens the actor callback
// stream (here with the Go SDK's SubscribeActorEvents) and gets its
// actors' calls, timers, reminders and deactivations over it.
func TestActorsOverTheAppStream(t *testing.T) {
	store, err := componenttest.Open[cstate.Store](t, "state.in-memory", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := actors.NewPlacement()
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := newEnv(t, Config{AppID: "shop", AppProtocol: "grpc", GRPCListener: glis, Actors: actorRuntime(t, "shop", p, actors.Options{Store: store})})
	caller := newEnv(t, Config{AppID: "web", Actors: actorRuntime(t, "web", p, actors.Options{})})

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := dapr.NewClientWithAddressContext(ctx, glis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	app := &streamActors{}
	stop, err := c.SubscribeActorEvents(ctx, app, dapr.ActorEventSubscriptionOptions{ActorIdleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if host.sc.actorHost() == nil {
		t.Fatal("the stream's registration did not make the sidecar a host")
	}

	resp, body := do(t, http.MethodPost, caller.url+"/v1.0/actors/Cart/c1/method/add", "apple", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "add:apple" {
		t.Fatalf("call: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodPost, caller.url+"/v1.0/actors/Cart/c1/method/missing", "", nil)
	if msg := wantDaprError(t, resp, body, http.StatusInternalServerError, "ERR_ACTOR_INVOKE_METHOD"); !strings.Contains(msg, "actor method not found") {
		t.Fatalf("missing method: %s", msg)
	}

	// A timer and a reminder, from the app's own sidecar; their data
	// reaches the app as the JSON given.
	data, _ := json.Marshal(map[string]int{"a": 1})
	err = c.RegisterActorTimer(ctx, &dapr.RegisterActorTimerRequest{ActorType: "Cart", ActorID: "c1", Name: "tick", DueTime: "0s", CallBack: "OnTick", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if e := app.waitSeen(t, "timer Cart/c1 tick "); !strings.Contains(e, `"callback":"OnTick"`) || !strings.Contains(e, `"data":{"a":1}`) {
		t.Fatalf("timer callback: %s", e)
	}
	err = c.RegisterActorReminder(ctx, &dapr.RegisterActorReminderRequest{ActorType: "Cart", ActorID: "c1", Name: "ping", DueTime: "0s", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if e := app.waitSeen(t, "reminder Cart/c1 ping "); !strings.Contains(e, `"data":{"a":1}`) {
		t.Fatalf("reminder callback: %s", e)
	}

	// The app's stream ending takes it out of the placement.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = do(t, http.MethodPost, caller.url+"/v1.0/actors/Cart/c1/method/add", "", nil)
		if resp.StatusCode == http.StatusNotFound {
			wantDaprError(t, resp, body, http.StatusNotFound, "ERR_ACTOR_NO_ADDRESS")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still hosted after the stream ended: %d %s", resp.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A sidecar stopping deactivates the actors of its gRPC app over the
// stream, while the app still runs.
func TestActorStreamDeactivatesOnStop(t *testing.T) {
	p := actors.NewPlacement()
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := newEnv(t, Config{AppID: "shop", AppProtocol: "grpc", GRPCListener: glis, Actors: actorRuntime(t, "shop", p, actors.Options{})})
	c, err := dapr.NewClientWithAddressContext(t.Context(), glis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	app := &streamActors{}
	stop, err := c.SubscribeActorEvents(t.Context(), app, dapr.ActorEventSubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := c.InvokeActor(t.Context(), &dapr.InvokeActorRequest{ActorType: "Cart", ActorID: "c9", Method: "m"}); err != nil {
		t.Fatal(err)
	}
	host.sc.StopActors(t.Context())
	if e := app.seen(); !slices.Contains(e, "deactivate Cart/c9") {
		t.Fatalf("callbacks %q, want the deactivation of c9", e)
	}
}

// An HTTP app's sidecar refuses the stream, as daprd does.
func TestActorStreamNeedsAGRPCApp(t *testing.T) {
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := newActorApp(t)
	newEnv(t, Config{AppID: "shop", AppAddr: app.Listener.Addr().String(), GRPCListener: glis, Actors: actorRuntime(t, "shop", actors.NewPlacement(), actors.Options{})})
	c, err := dapr.NewClientWithAddressContext(t.Context(), glis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.SubscribeActorEvents(t.Context(), &streamActors{}, dapr.ActorEventSubscriptionOptions{})
	if err == nil || !strings.Contains(err.Error(), "requires a gRPC app channel") {
		t.Fatalf("err = %v, want daprd's refusal", err)
	}
}
