package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/go-sdk/actor"
	actorruntime "github.com/dapr/go-sdk/actor/runtime"
	dapr "github.com/dapr/go-sdk/client"
	daprgrpc "github.com/dapr/go-sdk/service/grpc"
	daprhttp "github.com/dapr/go-sdk/service/http"
)

// CounterActor is an actor built on the Go SDK's actor package: a count
// kept in actor state, read, changed and written back on every call, so
// two activations or two calls at once would lose increments; it also
// refuses a call while another runs in its process.
type CounterActor struct {
	actor.ServerImplBaseCtx
}

// inFlight counts the calls running in this replica, by actor id.
var inFlight sync.Map

func (a *CounterActor) Type() string { return "Counter" }

// IncrResult tells which replica ran the call.
type IncrResult struct {
	Count   int
	Replica string
}

func (a *CounterActor) Incr(ctx context.Context) (*IncrResult, error) {
	n, _ := inFlight.LoadOrStore(a.ID(), new(atomic.Int32))
	if n.(*atomic.Int32).Add(1) > 1 {
		n.(*atomic.Int32).Add(-1)
		fmt.Println("overlap detected for", a.ID())
		return nil, errors.New("overlap: another call of this actor is running")
	}
	defer n.(*atomic.Int32).Add(-1)
	sm := a.GetStateManager()
	var count int
	if ok, _ := sm.Contains(ctx, "count"); ok {
		if err := sm.Get(ctx, "count", &count); err != nil {
			return nil, err
		}
	}
	time.Sleep(time.Millisecond)
	count++
	if err := sm.Set(ctx, "count", count); err != nil {
		return nil, err
	}
	return &IncrResult{Count: count, Replica: os.Getenv("CONTAINER_APP_REPLICA_NAME")}, nil
}

// Crash ends the replica's process, as a crash would.
func (a *CounterActor) Crash(context.Context) (bool, error) {
	fmt.Println("crashing on purpose")
	os.Exit(3)
	return false, nil
}

// StartTimer registers timer "tick" of this actor through its own
// sidecar. (The SDK drops the error of a method that returns only one, so
// it returns a value too.)
func (a *CounterActor) StartTimer(ctx context.Context) (bool, error) {
	c, err := dapr.NewClient()
	if err != nil {
		return false, err
	}
	// The Go SDK reads a timer's data as base64 of the JSON argument of
	// its callback.
	arg, _ := json.Marshal("tick")
	data, _ := json.Marshal(arg)
	err = c.RegisterActorTimer(ctx, &dapr.RegisterActorTimerRequest{
		ActorType: a.Type(), ActorID: a.ID(), Name: "tick", DueTime: "100ms", Period: "R3/PT1S", CallBack: "OnTick", Data: data,
	})
	return err == nil, err
}

func (a *CounterActor) OnTick(ctx context.Context, arg string) error {
	if arg != "tick" {
		return fmt.Errorf("timer data %q, want tick", arg)
	}
	sm := a.GetStateManager()
	var ticks int
	if ok, _ := sm.Contains(ctx, "ticks"); ok {
		if err := sm.Get(ctx, "ticks", &ticks); err != nil {
			return err
		}
	}
	if err := sm.Set(ctx, "ticks", ticks+1); err != nil {
		return err
	}
	return a.SaveState(ctx)
}

func (a *CounterActor) Ticks(ctx context.Context) (int, error) {
	var ticks int
	if ok, _ := a.GetStateManager().Contains(ctx, "ticks"); ok {
		err := a.GetStateManager().Get(ctx, "ticks", &ticks)
		return ticks, err
	}
	return 0, nil
}

// ReminderCall counts the actor's reminders in its state and says so.
func (a *CounterActor) ReminderCall(name string, data []byte, dueTime, period string) {
	ctx := context.Background()
	sm := a.GetStateManager()
	var n int
	if ok, _ := sm.Contains(ctx, "reminded"); ok {
		_ = sm.Get(ctx, "reminded", &n)
	}
	_ = sm.Set(ctx, "reminded", n+1)
	if err := a.SaveState(ctx); err != nil {
		fmt.Println("reminder state not saved:", err)
	}
	fmt.Printf("reminder %s fired for %s with %s (due %s, period %s)\n", name, a.ID(), data, dueTime, period)
}

func (a *CounterActor) Reminded(ctx context.Context) (int, error) {
	var n int
	if ok, _ := a.GetStateManager().Contains(ctx, "reminded"); ok {
		err := a.GetStateManager().Get(ctx, "reminded", &n)
		return n, err
	}
	return 0, nil
}

// counterClient is the client's proxy of a Counter.
type counterClient struct {
	id         string
	Incr       func(context.Context) (*IncrResult, error)
	StartTimer func(context.Context) (bool, error)
	Ticks      func(context.Context) (int, error)
	Reminded   func(context.Context) (int, error)
	Crash      func(context.Context) (bool, error)
}

func (c *counterClient) Type() string { return "Counter" }
func (c *counterClient) ID() string   { return c.id }

// actorEnv writes an environment of three replicas of app counter
// serving the Counter actor, with an actor state store of the given
// component file, and returns its directory.
func actorEnv(t *testing.T, store string) string {
	t.Helper()
	return actorApp(t, "counter", "sdk-actor", 3, store)
}

// actorApp writes an environment of one app, replicas of this test binary
// in mode (a gRPC app when mode says grpc), with the actor state store of the given component file, and
// returns its directory.
func actorApp(t *testing.T, app, mode string, replicas int, store string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "cove.yaml", fmt.Sprintf(`name: %s
apps:
  - file: app.yaml
    command: [%q]
    env: {COVE_E2E_APP: %s}
components:
  - name: actorstore
    file: actorstore.yaml
`, app, exe, mode))
	protocol := "http"
	if strings.Contains(mode, "grpc") {
		protocol = "grpc"
	}
	writeFile(t, dir, "app.yaml", fmt.Sprintf(`name: %s
properties:
  configuration:
    ingress: {external: false, targetPort: 8000}
    dapr: {enabled: true, appId: %s, appPort: 8000, appProtocol: %s}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: %d, maxReplicas: %d}
`, app, app, protocol, replicas, replicas))
	writeFile(t, dir, "actorstore.yaml", store)
	return dir
}

// reminderData is a reminder's data as the Go SDK hands it on: JSON of
// base64 of the bytes ReminderCall gets.
func reminderData(s string) []byte {
	b, _ := json.Marshal([]byte(s))
	return b
}

// waitHosted calls a Counter until a replica hosts the type: the sidecars
// read /dapr/config once their app is up.
func waitHosted(ctx context.Context, t *testing.T, p *counterClient) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := p.Incr(ctx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica hosts Counter: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runCartActor is docs/actors.md's Cart actor on plain net/http: it hosts
// Cart and answers every actor call 200, printing it.
func runCartActor() int {
	http.HandleFunc("GET /dapr/config", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"entities":["Cart"]}`)
	})
	http.HandleFunc("/actors/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("cart: %s %s %s\n", r.Method, r.URL.Path, body)
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
	return 1
}

// TestDocsActorsExamples runs the curl examples of docs/actors.md against
// a replica hosting the Cart actor, and checks the answers the page shows.
func TestDocsActorsExamples(t *testing.T) {
	dir := actorApp(t, "cart", "cart-actor", 1, "componentType: state.in-memory\nversion: v1\nmetadata:\n  - {name: actorStateStore, value: \"true\"}\n")
	e := up(t, filepath.Join(dir, "cove.yaml"))
	port := e.status().Apps[0].Replicas[0].DaprHTTPPort
	run := func(section string) string {
		script := strings.Join(codeAfter(t, "docs/actors.md", section), "\n")
		cmd := exec.Command("sh", "-c", "set -e\n"+strings.ReplaceAll(script, "curl ", "curl -sS --fail-with-body "))
		cmd.Env = append(os.Environ(), fmt.Sprintf("DAPR_HTTP_PORT=%d", port))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", section, err, out)
		}
		return string(out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command("sh", "-c", strings.Join(codeAfter(t, "docs/actors.md", "## Calls, one at a time"), "\n"))
		cmd.Env = append(os.Environ(), fmt.Sprintf("DAPR_HTTP_PORT=%d", port))
		out, _ := cmd.Output()
		if string(out) == "PUT /actors/Cart/cart-1/method/add" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call example answers %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.waitFor(`cart: PUT /actors/Cart/cart-1/method/add {"item":"apple"}`, 5*time.Second)
	if out := run("Through the sidecar of the replica hosting the actor:"); out != `["apple"]` {
		t.Errorf("the state example printed %q", out)
	}
	if out := run("## Timers"); out != "" {
		t.Errorf("the timer example printed %q", out)
	}
	want := `{"actorID":"cart-1","actorType":"Cart","data":{"reason":"abandoned"},"dueTime":"24h","period":"R2/P1D"}`
	if out := run("## Reminders"); out != want {
		t.Errorf("the reminder example printed %q, want %q", out, want)
	}
}

// runSDKActor serves the Counter actor with the Go SDK's service/http.
func runSDKActor() int {
	svc := daprhttp.NewService("127.0.0.1:" + os.Getenv("PORT"))
	svc.RegisterActorImplFactoryContext(func() actor.ServerContext { return &CounterActor{} })
	fmt.Fprintln(os.Stderr, svc.Start())
	return 1
}

// runSDKGRPCActor is a gRPC app (the Go SDK's service/grpc on its port)
// hosting the Counter actor over the actor callback stream, with the Go
// SDK's actor runtime.
func runSDKGRPCActor() int {
	svc, err := daprgrpc.NewService("127.0.0.1:" + os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { fmt.Fprintln(os.Stderr, svc.Start()) }()
	rt := actorruntime.NewActorRuntimeContext()
	rt.RegisterActorFactory(func() actor.ServerContext { return &CounterActor{} })
	for {
		c, err := dapr.NewClient()
		if err == nil {
			if _, err = c.SubscribeActorEvents(context.Background(), rt, dapr.ActorEventSubscriptionOptions{}); err == nil {
				break
			}
		}
		fmt.Fprintln(os.Stderr, "actor stream:", err)
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Println("hosting Counter over the actor stream")
	select {}
}

// TestActorsGoSDKOverTheGRPCStream: the same Counter actor, hosted by a
// gRPC app over the actor callback stream, two replicas: calls at once to
// one actor run one at a time, its state is kept, a timer and a reminder
// fire their repetitions.
func TestActorsGoSDKOverTheGRPCStream(t *testing.T) {
	dir := actorApp(t, "counter", "sdk-grpc-actor", 2, "componentType: state.in-memory\nversion: v1\nmetadata:\n  - {name: actorStateStore, value: \"true\"}\n")
	e := up(t, filepath.Join(dir, "cove.yaml"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	clients, proxy := counterProxies(ctx, t, e)
	waitHosted(ctx, t, proxy(0, "warmup"))

	incrAtOnce(ctx, t, proxy, "g1", 100)

	p := proxy(1, "gt")
	if _, err := p.StartTimer(ctx); err != nil {
		t.Fatal(err)
	}
	err := clients[0].RegisterActorReminder(ctx, &dapr.RegisterActorReminderRequest{
		ActorType: "Counter", ActorID: "gt", Name: "ping", DueTime: "100ms", Period: "R2/PT1S", Data: reminderData("hi"),
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ticks, err := p.Ticks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reminded, err := p.Reminded(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ticks == 3 && reminded == 2 {
			break
		}
		if ticks > 3 || reminded > 2 || time.Now().After(deadline) {
			t.Fatalf("%d ticks and %d reminders, want 3 and 2", ticks, reminded)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.waitFor("reminder ping fired for gt with hi (due 100ms, period R2/PT1S)", 5*time.Second)
}

// counterProxies are clients of every replica's sidecar, and a Counter
// proxy through the i-th (modulo their number).
func counterProxies(ctx context.Context, t *testing.T, e *env) ([]dapr.Client, func(i int, id string) *counterClient) {
	t.Helper()
	replicas := e.status().Apps[0].Replicas
	clients := make([]dapr.Client, len(replicas))
	for i, r := range replicas {
		c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		clients[i] = c
	}
	return clients, func(i int, id string) *counterClient {
		p := &counterClient{id: id}
		clients[i%len(clients)].ImplActorClientStub(p)
		return p
	}
}

// incrAtOnce makes calls calls of Counter id's Incr at once, through every
// sidecar in turn, and fails unless each saw a count of its own, 1 to
// calls (none lost, none overlapping); it returns the calls per replica.
func incrAtOnce(ctx context.Context, t *testing.T, proxy func(int, string) *counterClient, id string, calls int) map[string]int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		counts   = map[int]bool{}
		replicas = map[string]int{}
		errs     []error
	)
	for i := range calls {
		wg.Go(func() {
			res, err := proxy(i, id).Incr(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[res.Count] = true
			replicas[res.Replica]++
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d calls failed, the first: %v", len(errs), errs[0])
	}
	for n := 1; n <= calls; n++ {
		if !counts[n] {
			t.Fatalf("no call saw count %d: increments were lost or calls overlapped (%d distinct counts)", n, len(counts))
		}
	}
	return replicas
}

// TestActorsGoSDK runs the Go SDK's actor under cove up, three replicas
// hosting it, and calls it with the client's actor proxy through every
// replica's sidecar: 200 calls at once to one actor id run one at a time
// on one replica (no increment lost, none overlapping); state persists in
// the actor state store with Dapr's key layout; a timer fires its three
// repetitions, a reminder its two.
func TestActorsGoSDK(t *testing.T) {
	dir := actorEnv(t, "componentType: state.in-memory\nversion: v1\nmetadata:\n  - {name: actorStateStore, value: \"true\"}\n")
	e := up(t, filepath.Join(dir, "cove.yaml"))
	replicas := e.status().Apps[0].Replicas
	if len(replicas) != 3 {
		t.Fatalf("%d replicas, want 3", len(replicas))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	clients, proxy := counterProxies(ctx, t, e)
	waitHosted(ctx, t, proxy(0, "warmup"))

	t.Run("one call at a time", func(t *testing.T) {
		replicas := incrAtOnce(ctx, t, proxy, "c1", 200)
		if len(replicas) != 1 {
			t.Fatalf("calls ran on %v, want one replica", replicas)
		}
	})

	t.Run("state in the actor state store", func(t *testing.T) {
		// Dapr's key layout: appid||type||id||key, read through the state
		// API of the store with no key prefix.
		hostPort := fmt.Sprintf("http://127.0.0.1:%d", replicas[0].DaprHTTPPort)
		resp, err := http.Get(hostPort + "/v1.0/actors/Counter/c1/state/count")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Only the sidecar hosting c1 may read its state; others answer
		// daprd's ERR_ACTOR_INSTANCE_MISSING.
		if resp.StatusCode != http.StatusOK && !strings.Contains(string(body), "ERR_ACTOR_INSTANCE_MISSING") {
			t.Fatalf("GET state: %d %s", resp.StatusCode, body)
		}
		found := false
		for _, r := range replicas {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/actors/Counter/c1/state/count", r.DaprHTTPPort))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if strings.TrimSpace(string(body)) != "200" {
					t.Fatalf("count is %s, want 200", body)
				}
				found = true
			}
		}
		if !found {
			t.Fatal("no sidecar answered the state of c1")
		}
	})

	t.Run("timer", func(t *testing.T) {
		p := proxy(1, "t1")
		if _, err := p.StartTimer(ctx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := p.Ticks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 3 {
				break
			}
			if n > 3 || time.Now().After(deadline) {
				t.Fatalf("%d ticks, want 3", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
		if n, _ := p.Ticks(ctx); n != 3 {
			t.Fatalf("%d ticks after the timer's three repetitions, want 3", n)
		}
	})

	t.Run("reminder", func(t *testing.T) {
		err := clients[2].RegisterActorReminder(ctx, &dapr.RegisterActorReminderRequest{
			ActorType: "Counter", ActorID: "r1", Name: "ping", DueTime: "100ms", Period: "R2/PT1S", Data: reminderData("hi"),
		})
		if err != nil {
			t.Fatal(err)
		}
		p := proxy(0, "r1")
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := p.Reminded(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 2 {
				break
			}
			if n > 2 || time.Now().After(deadline) {
				t.Fatalf("reminded %d times, want 2", n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		e.waitFor("reminder ping fired for r1 with hi (due 100ms, period R2/PT1S)", 5*time.Second)
		// Done with its repetitions, it is gone.
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/actors/Counter/r1/reminders/ping", replicas[0].DaprHTTPPort))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "ERR_ACTOR_REMINDER_NOT_FOUND") {
			t.Fatalf("GET the finished reminder: %d %s", resp.StatusCode, body)
		}
	})
}

// TestActorReminderSurvivesRestart registers a reminder due after cove
// stops; started again over the same SQLite actor state store, cove fires
// it.
func TestActorReminderSurvivesRestart(t *testing.T) {
	dir := actorEnv(t, "componentType: state.sqlite\nversion: v1\nmetadata:\n  - {name: connectionString, value: actors.db}\n  - {name: actorStateStore, value: \"true\"}\n")
	file := filepath.Join(dir, "cove.yaml")
	e := up(t, file)
	replicas := e.status().Apps[0].Replicas
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", replicas[0].DaprGRPCPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := &counterClient{id: "r2"}
	c.ImplActorClientStub(p)
	waitHosted(ctx, t, p)
	err = c.RegisterActorReminder(ctx, &dapr.RegisterActorReminderRequest{
		ActorType: "Counter", ActorID: "r2", Name: "later", DueTime: "5s", Data: reminderData("after"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.stop()
	if strings.Contains(e.out.String(), "reminder later fired") {
		t.Fatal("the reminder fired before cove stopped; make its due time later")
	}
	e2 := up(t, file)
	e2.waitFor("reminder later fired for r2 with after", 30*time.Second)
}

// TestActorsMoveWhenTheirReplicaDies: under a steady load of calls to one
// actor through every replica's sidecar, the replica hosting it dies; the
// calls go on, on another replica, and no two ever run at once (no count
// is seen twice).
func TestActorsMoveWhenTheirReplicaDies(t *testing.T) {
	dir := actorEnv(t, "componentType: state.in-memory\nversion: v1\nmetadata:\n  - {name: actorStateStore, value: \"true\"}\n")
	e := up(t, filepath.Join(dir, "cove.yaml"))
	replicas := e.status().Apps[0].Replicas
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	proxies := make([]*counterClient, len(replicas))
	for i, r := range replicas {
		c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", r.DaprGRPCPort))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		proxies[i] = &counterClient{id: "k1"}
		c.ImplActorClientStub(proxies[i])
	}
	waitHosted(ctx, t, proxies[0])
	first, err := proxies[0].Incr(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		seen   = map[int]int{}
		where  = map[string]int{}
		failed int
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for w := range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := proxies[w%len(proxies)].Incr(ctx)
				mu.Lock()
				if err != nil {
					failed++
				} else {
					seen[res.Count]++
					where[res.Replica]++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := proxies[1].Crash(ctx); err == nil {
		t.Error("the crash call answered")
	}
	e.waitFor("crashing on purpose", 10*time.Second)
	// Calls must succeed on another replica after the crash.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		moved := len(where) > 1 || where[first.Replica] == 0
		mu.Unlock()
		if moved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls did not resume on another replica: %v", where)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	for n, times := range seen {
		if times > 1 {
			t.Fatalf("count %d seen %d times: two calls ran at once", n, times)
		}
	}
	if strings.Contains(e.out.String(), "overlap detected") {
		t.Fatal("a replica saw two calls of the actor at once")
	}
	t.Logf("%d calls answered on %v, %d failed while the replica died", len(seen), where, failed)
}
