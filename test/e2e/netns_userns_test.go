package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testuser"
	"github.com/cove-env/cove/test/internal/testenv"
)

// TestNetworkNamespacesWithoutRoot runs `cove up` as user nobody with an
// app in network namespaces, listening on port 80 as ACA's apps do: each
// namespace is in a user namespace where nobody is root. The edge reaches
// the app, localhost:3500 inside is its sidecar, Redis is relayed in by
// hostPorts, cove exec (as nobody) runs in the namespace, and at stop no
// process is left. The replica's processes are nobody's on the machine.
func TestNetworkNamespacesWithoutRoot(t *testing.T) {
	e := upAsNobody(t)

	check := func(path, want string) {
		t.Helper()
		code, body := e.edge(t, "GET", "front", path, "")
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("front %s: %d %q; want %q in it", path, code, body, want)
		}
	}
	check("/env", "PORT=80\nDAPR_HTTP_PORT=3500\nDAPR_GRPC_PORT=50001\nCONTAINER_APP_PORT=80\n")
	check("/uid", "uid=0\n") // root of its user namespace
	check("/state/netns-nobody?v=over-3500", "over-3500")
	check("/grpc/netns-nobody-grpc?v=over-50001", "over-50001")
	check("/redis", "+PONG")

	pids, namespaces := replicaNamespaces(t, e)
	own, _ := os.Readlink("/proc/self/ns/net")
	if len(pids) != 2 || len(namespaces) != 2 || namespaces[own] {
		t.Errorf("replicas %v run in namespaces %v (the machine's is %s); want two of their own", pids, namespaces, own)
	}
	for name, pid := range pids {
		if uid := procUID(t, pid); uid != fmt.Sprint(testuser.Nobody) {
			t.Errorf("replica %s runs as user %s on the machine, want nobody", name, uid)
		}
	}

	out, err := e.cove("exec", "front", "--", "curl", "-sS", "localhost:3500/v1.0/metadata")
	if err != nil || !strings.Contains(out, `"id":"front"`) {
		t.Errorf("cove exec front -- curl localhost:3500/v1.0/metadata: %v\n%s", err, out)
	}
	// It sees the environment's hosts file, bound in a mount namespace
	// the launcher made inside the user namespace.
	if out, err := e.cove("exec", "front", "--", "cat", "/etc/hosts"); err != nil || !strings.Contains(out, "\tfront front.internal.localhost\n") {
		t.Errorf("cove exec front -- cat /etc/hosts: %v\n%s", err, out)
	}

	e.stop()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("replica %s (%d) survives cove up's stop", name, pid)
		}
	}
	testenv.Poll(time.Minute, 100*time.Millisecond, func() bool { return len(holdersOf(namespaces)) == 0 })
	if left := holdersOf(namespaces); len(left) > 0 {
		t.Errorf("the replicas' namespaces outlived cove up's stop, held by: %v", left)
	}
}

// upAsNobody runs `cove up` as user nobody, on an environment of one app
// served by this test binary (runNamespacedApp) on port 80, two replicas
// with network: namespace and hostPorts [6379]; it skips where that cannot
// be done.
func upAsNobody(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the test runs cove as user nobody, which takes root")
	}
	if n, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(n)) == "0" {
		t.Skip("this kernel gives users no user namespaces")
	}
	// Everything nobody's cove reads or writes is nobody's.
	home, err := os.MkdirTemp("", "cove-e2e-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, app := filepath.Join(home, "cove-bin"), filepath.Join(home, "e2e.test")
	testuser.CopyExecutable(t, coveBin, bin)
	testuser.CopyExecutable(t, exe, app)
	writeFile(t, home, "front.yaml", `name: front
properties:
  configuration:
    ingress: {external: true, targetPort: 80, allowInsecure: true}
    dapr: {enabled: true, appId: front, appPort: 80}
  template:
    containers: [{name: main, image: x}]
    scale: {minReplicas: 2, maxReplicas: 2}
`)
	writeFile(t, home, "statestore.yaml", "componentType: state.in-memory\nversion: v1\n")
	writeFile(t, home, "cove.yaml", fmt.Sprintf(`name: netns-nobody
apps:
  - file: front.yaml
    command: [%q]
    env: {COVE_E2E_APP: netns, NETNS_PORT: "80"}
    network: {mode: namespace, hostPorts: [6379]}
components:
  - name: statestore
    file: statestore.yaml
`, app))
	err = filepath.WalkDir(home, func(path string, _ os.DirEntry, err error) error {
		if err == nil {
			err = os.Chown(path, testuser.Nobody, testuser.Nobody)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(home, "cove.yaml")
	attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testuser.Nobody, Gid: testuser.Nobody}}
	e := startAs(t, bin, attr, home, file, []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + home, "TMPDIR=" + home}, "up", "-f", file)
	e.waitFor("is ready", 3*time.Minute)
	return e

}

// TestNetworkNamespacesWithoutRootGoWithAKilledCove kills nobody's cove
// with SIGKILL: the guardian ends the replicas and the holders of their
// namespaces end with cove's end of their sockets, so nothing is left.
func TestNetworkNamespacesWithoutRootGoWithAKilledCove(t *testing.T) {
	e := upAsNobody(t)
	pids, namespaces := replicaNamespaces(t, e)
	if len(namespaces) != 2 {
		t.Fatalf("replicas %v run in namespaces %v; want two", pids, namespaces)
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

// procUID is the real user id process pid runs as on the machine.
func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	return ""
}
