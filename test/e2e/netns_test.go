package e2e

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/cove-env/cove/test/internal/testenv"
)

// runNamespacedApp is an app written for a replica with a network of its
// own, as Dapr's quickstarts are: it listens on a fixed port, :8000 (its
// PORT must say so), and calls its sidecar, the other apps and Redis on
// the ports they have everywhere.
func runNamespacedApp() int {
	port := cmp.Or(os.Getenv("NETNS_PORT"), "8000")
	if os.Getenv("PORT") != port {
		fmt.Fprintf(os.Stderr, "PORT is %q, want %s\n", os.Getenv("PORT"), port)
		return 1
	}
	name, replica := os.Getenv("CONTAINER_APP_NAME"), os.Getenv("CONTAINER_APP_REPLICA_NAME")
	sidecar := "http://localhost:" + os.Getenv("DAPR_HTTP_PORT")
	get := func(client *http.Client, url string) (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
		}
		return string(b), err
	}
	answer := func(w http.ResponseWriter, s string, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, s)
	}
	direct := &http.Client{Transport: &http.Transport{Proxy: nil}}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %d\n", name, replica, os.Getpid())
	})
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"PORT", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "CONTAINER_APP_PORT"} {
			fmt.Fprintf(w, "%s=%s\n", k, os.Getenv(k))
		}
	})
	// State through localhost:3500, written then read back.
	http.HandleFunc("/state/{key}", func(w http.ResponseWriter, r *http.Request) {
		body := fmt.Sprintf(`[{"key":%q,"value":%q}]`, r.PathValue("key"), r.URL.Query().Get("v"))
		resp, err := http.Post(sidecar+"/v1.0/state/statestore", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		var s string
		if err == nil {
			s, err = get(http.DefaultClient, sidecar+"/v1.0/state/statestore/"+r.PathValue("key"))
		}
		answer(w, s, err)
	})
	// State through localhost:50001 with the Dapr SDK, which reads
	// DAPR_GRPC_PORT.
	http.HandleFunc("/grpc/{key}", func(w http.ResponseWriter, r *http.Request) {
		c, err := dapr.NewClient()
		if err != nil {
			answer(w, "", err)
			return
		}
		defer c.Close()
		if err := c.SaveState(r.Context(), "statestore", r.PathValue("key"), []byte(r.URL.Query().Get("v")), nil); err != nil {
			answer(w, "", err)
			return
		}
		item, err := c.GetState(r.Context(), "statestore", r.PathValue("key"), nil)
		if err != nil {
			answer(w, "", err)
			return
		}
		answer(w, string(item.Value), nil)
	})
	http.HandleFunc("/invoke/{app}", func(w http.ResponseWriter, r *http.Request) {
		s, err := get(http.DefaultClient, sidecar+"/v1.0/invoke/"+r.PathValue("app")+"/method/")
		answer(w, s, err)
	})
	// By name: through the internal proxy (HTTP_PROXY), or straight to the
	// edge on the app's address.
	http.HandleFunc("/name/{app}", func(w http.ResponseWriter, r *http.Request) {
		client := http.DefaultClient
		if r.URL.Query().Has("direct") {
			client = direct
		}
		s, err := get(client, "http://"+r.PathValue("app")+"/")
		answer(w, s, err)
	})
	http.HandleFunc("/redis", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", "localhost:6379", 5*time.Second)
		if err != nil {
			answer(w, "", err)
			return
		}
		defer c.Close()
		fmt.Fprint(c, "PING\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		answer(w, strings.TrimSpace(line), err)
	})
	http.HandleFunc("/uid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "uid=%d\n", os.Getuid())
	})
	err := http.ListenAndServe(":"+port, nil)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestProcessReplicasInNetworkNamespaces runs two process-mode apps with
// network: namespace, three replicas in all, every one listening on the
// same fixed port 8000: the edge reaches each; inside, localhost:3500 and
// localhost:50001 are the replica's sidecar (state over HTTP and gRPC,
// invocation), the other app answers by name, and Redis, which one app's
// hostPorts relays, answers on localhost:6379 there and only there. cove
// exec runs in a replica's namespace; at stop no process and no namespace
// is left.
func TestProcessReplicasInNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("this test runs network namespaces as root; TestNetworkNamespacesWithoutRoot runs them as another user")
	}
	e := up(t, namespacedEnv(t))

	// Every replica answers the edge, each from port 8000 of its own.
	pids, namespaces := replicaNamespaces(t, e)
	if len(pids) != 3 {
		t.Fatalf("replicas %v; want front's one and back's two", pids)
	}
	seen := map[string]bool{}
	for i := 0; i < 20 && len(seen) < 3; i++ {
		for _, a := range []string{"front", "back"} {
			code, body := e.edge(t, "GET", a, "/", "")
			if code != http.StatusOK || !strings.HasPrefix(body, a+" ") {
				t.Fatalf("edge to %s: %d %q", a, code, body)
			}
			seen[strings.Fields(body)[1]] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("the edge reached replicas %v; want all three", seen)
	}

	check := func(app, path, want string) {
		t.Helper()
		code, body := e.edge(t, "GET", app, path, "")
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s %s: %d %q; want %q in it", app, path, code, body, want)
		}
	}
	check("front", "/env", "PORT=8000\nDAPR_HTTP_PORT=3500\nDAPR_GRPC_PORT=50001\nCONTAINER_APP_PORT=8000\n")
	check("front", "/state/netns-http?v=over-3500", "over-3500")
	check("back", "/grpc/netns-grpc?v=over-50001", "over-50001")
	check("front", "/invoke/back", "back ")
	check("back", "/invoke/front", "front ")
	check("front", "/name/back", "back ")
	check("back", "/name/front?direct", "front ")
	check("front", "/redis", "+PONG")
	// back's hostPorts relay nothing: Redis is not there.
	if code, body := e.edge(t, "GET", "back", "/redis", ""); code == http.StatusOK {
		t.Errorf("back reached localhost:6379 without hostPorts: %q", body)
	}

	// cove exec runs in the replica's namespace, where curl finds its
	// sidecar at localhost:3500.
	out, err := e.cove("exec", "front", "--", "curl", "-sS", "localhost:3500/v1.0/metadata")
	if err != nil || !strings.Contains(out, `"id":"front"`) {
		t.Errorf("cove exec front -- curl localhost:3500/v1.0/metadata: %v\n%s", err, out)
	}

	own, _ := os.Readlink("/proc/self/ns/net")
	if len(namespaces) != 3 || namespaces[own] {
		t.Errorf("replicas run in namespaces %v (the machine's is %s); want three of their own", namespaces, own)
	}

	e.stop()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("replica %s (%d) survives cove up's stop", name, pid)
		}
	}
	if left := holdersOf(namespaces); len(left) > 0 {
		t.Errorf("the replicas' namespaces outlived cove up's stop, held by: %v", left)
	}
}

// namespacedEnv writes an environment of two apps served by this test
// binary (runNamespacedApp) with network: namespace, front with one
// replica and hostPorts [6379], back with two, and returns its file.
func namespacedEnv(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	app := func(name string, replicas int) string {
		return fmt.Sprintf(`name: %s
properties:
  configuration:
    ingress: {external: true, targetPort: 8000, allowInsecure: true}
    dapr: {enabled: true, appId: %s, appPort: 8000}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: %d, maxReplicas: %d}
`, name, name, replicas, replicas)
	}
	writeFile(t, dir, "front.yaml", app("front", 1))
	writeFile(t, dir, "back.yaml", app("back", 2))
	writeFile(t, dir, "components/statestore.yaml", "componentType: state.in-memory\nversion: v1\n")
	writeFile(t, dir, "cove.yaml", fmt.Sprintf(`name: netns
apps:
  - file: front.yaml
    command: [%[1]q]
    env: {COVE_E2E_APP: netns}
    network: {mode: namespace, hostPorts: [6379]}
  - file: back.yaml
    command: [%[1]q]
    env: {COVE_E2E_APP: netns}
    network: namespace
components:
  - name: statestore
    file: components/statestore.yaml
`, exe))
	return filepath.Join(dir, "cove.yaml")
}

// replicaNamespaces returns the running replicas' process ids by name and
// the network namespaces they run in.
func replicaNamespaces(t *testing.T, e *env) (map[string]int, map[string]bool) {
	t.Helper()
	pids, namespaces := map[string]int{}, map[string]bool{}
	for _, a := range e.status().Apps {
		for _, r := range a.Replicas {
			pids[r.Name] = r.PID
			ns, err := os.Readlink("/proc/" + strconv.Itoa(r.PID) + "/ns/net")
			if err != nil {
				t.Fatalf("replica %s: %v", r.Name, err)
			}
			namespaces[ns] = true
		}
	}
	return pids, namespaces
}

// TestNetworkNamespacesGoWithAKilledCove kills cove with SIGKILL: its
// guardian ends the replicas, and then no process and no descriptor holds
// their namespaces, which the kernel frees (they have no name to remove).
func TestNetworkNamespacesGoWithAKilledCove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("this test runs network namespaces as root; TestNetworkNamespacesWithoutRoot runs them as another user")
	}
	e := up(t, namespacedEnv(t))
	pids, namespaces := replicaNamespaces(t, e)
	if len(namespaces) != 3 {
		t.Fatalf("replicas %v run in namespaces %v; want three", pids, namespaces)
	}
	if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-e.done
	testenv.Poll(time.Minute, 100*time.Millisecond, func() bool { return len(holdersOf(namespaces)) == 0 })
	if left := holdersOf(namespaces); len(left) > 0 {
		t.Errorf("the replicas' namespaces outlived a killed cove, held by: %v", left)
	}
}

// holdersOf lists the processes that run in one of namespaces or hold a
// descriptor of one: while none does, the kernel has freed them.
func holdersOf(namespaces map[string]bool) []string {
	entries, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := "/proc/" + e.Name()
		comm, _ := os.ReadFile(dir + "/comm")
		who := e.Name() + " " + strings.TrimSpace(string(comm))
		if ns, err := os.Readlink(dir + "/ns/net"); err == nil && namespaces[ns] {
			left = append(left, who+" runs in "+ns)
			continue
		}
		fds, _ := os.ReadDir(dir + "/fd")
		for _, fd := range fds {
			if link, err := os.Readlink(dir + "/fd/" + fd.Name()); err == nil && namespaces[link] {
				left = append(left, who+" holds "+link)
				break
			}
		}
	}
	return left
}
