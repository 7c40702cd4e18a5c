package control

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// webApp is an app YAML for the test binary's HTTP mode with VERSION in
// its container env; configuration goes under `configuration:`.
func webApp(configuration, version string) string {
	return namedApp("web", configuration, version)
}

// namedApp is webApp for an app of another name.
func namedApp(name, configuration, version string) string {
	return `
name: ` + name + `
properties:
  configuration:
` + configuration + `
  template:
    containers: [{name: main, image: x, env: [{name: VERSION, value: "` + version + `"}]}]
    scale: {minReplicas: 2, maxReplicas: 2}
`
}

// revisionAt asks the app behind host (through the public edge) which
// revision answered, and with which VERSION.
func revisionAt(c *http.Client, edge, host string) (revision, version string, err error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+edge+"/env", nil)
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("%s: %s", res.Status, b)
	}
	var env map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		return "", "", err
	}
	return env["CONTAINER_APP_REVISION"], env["VERSION"], nil
}

// ignoreCreated leaves out of a comparison when revisions were created.
var ignoreCreated = cmpopts.IgnoreFields(RevisionStatus{}, "Created")

func appStatus(t *testing.T, client *Client, name string) AppStatus {
	t.Helper()
	st, err := client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Apps {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("no app %s in the status", name)
	return AppStatus{}
}

// waitGone waits until none of pids is a live process.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && !zombie(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of a stopped revision still runs", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestReloadSplitsTraffic runs an app in multiple revision mode, changes
// its template and its traffic in the file, reloads, and checks that the
// edge splits requests 80/20 between the two revisions, that revision and
// label host names reach one revision each, and that a revision the
// traffic no longer names is stopped.
func TestReloadSplitsTraffic(t *testing.T) {
	exe := testExe(t)
	dir := t.TempDir()
	ingress := "    activeRevisionsMode: multiple\n    ingress:\n      external: true\n      allowInsecure: true\n      targetPort: 8000\n"
	st := runEnv(t, dir, map[string]string{
		"web.yaml":  webApp(ingress, "1"),
		"cove.yaml": fmt.Sprintf("apps:\n  - {file: web.yaml, command: [%q], env: {COVE_TEST_EDGE_APP: http}}\n", exe),
	})
	client := NewClient(filepath.Join(dir, "cove.yaml"))
	first := st.Apps[0].Revision
	oldPIDs := []int{st.Apps[0].Replicas[0].PID, st.Apps[0].Replicas[1].PID}

	write(t, dir, "web.yaml", webApp(ingress+fmt.Sprintf(`      traffic:
        - {revisionName: %s, weight: 80, label: stable}
        - {latestRevision: true, weight: 20, label: canary}`, first), "2"))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	web := appStatus(t, client, "web")
	second := web.Revision
	if second == first || !strings.HasPrefix(second, "web--") {
		t.Fatalf("latest revision after the reload is %q (was %q)", second, first)
	}
	want := ReloadResult{
		Applied:   []string{"web"},
		Revisions: []string{fmt.Sprintf("web: %s → %s (traffic: %s 20%%, %s 80%%)", first, second, second, first)},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("reload (-want +got):\n%s", diff)
	}
	wantRevs := []RevisionStatus{
		{Name: second, State: "active", Latest: true, Weight: 20, Labels: []string{"canary"}, Replicas: 2, Ready: 2},
		{Name: first, State: "active", Weight: 80, Labels: []string{"stable"}, Replicas: 2, Ready: 2},
	}
	if diff := cmp.Diff(wantRevs, web.Revisions, ignoreCreated); diff != "" {
		t.Errorf("revisions in the status (-want +got):\n%s", diff)
	}
	for _, r := range web.Replicas {
		if !strings.HasPrefix(r.Name, r.Revision+"-") {
			t.Errorf("replica %s is listed under revision %s", r.Name, r.Revision)
		}
	}

	c := &http.Client{Timeout: 10 * time.Second}
	got := map[string]int{}
	for range 100 {
		rev, version, err := revisionAt(c, st.Edge.HTTP, "web.localhost")
		if err != nil {
			t.Fatal(err)
		}
		if (rev == second) != (version == "2") {
			t.Errorf("revision %s answered with VERSION %s", rev, version)
		}
		got[rev]++
	}
	if diff := cmp.Diff(map[string]int{first: 80, second: 20}, got); diff != "" {
		t.Errorf("100 requests split (-want +got):\n%s", diff)
	}

	for host, want := range map[string]string{
		first + ".localhost": first, second + ".localhost": second,
		"web---stable.localhost": first, "web---canary.localhost": second,
	} {
		for range 4 {
			if rev, _, err := revisionAt(c, st.Edge.HTTP, host); err != nil || rev != want {
				t.Errorf("%s reached %q (%v), want %s", host, rev, err, want)
			}
		}
	}

	// Traffic that no longer names the first revision stops it; no new
	// revision is made for a configuration change.
	write(t, dir, "web.yaml", webApp(ingress, "2"))
	res, err = client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want = ReloadResult{
		Applied:   []string{"web"},
		Revisions: []string{fmt.Sprintf("web: %s stopped (the ingress traffic gives it neither weight nor label)", first)},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("reload without the first revision's traffic (-want +got):\n%s", diff)
	}
	for range 10 {
		if rev, _, err := revisionAt(c, st.Edge.HTTP, "web.localhost"); err != nil || rev != second {
			t.Fatalf("after the first revision lost its traffic, %q answered (%v)", rev, err)
		}
	}
	waitGone(t, oldPIDs)
	deadline := time.Now().Add(10 * time.Second)
	for len(appStatus(t, client, "web").Revisions) != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if revs := appStatus(t, client, "web").Revisions; len(revs) != 1 || revs[0].Name != second || revs[0].Weight != 100 {
		t.Errorf("revisions once the first stopped: %+v", revs)
	}
}

// TestReloadReplacesRevision changes the template of an app in single
// revision mode while a client sends requests without pause: the new
// revision takes over with no failed request, and the old revision's
// processes are gone afterwards. A change whose revision never gets ready
// leaves the app on its revision.
func TestReloadReplacesRevision(t *testing.T) {
	exe := testExe(t)
	dir := t.TempDir()
	ingress := "    ingress: {external: true, allowInsecure: true, targetPort: 8000}\n"
	coveYAML := func(command string) string {
		return fmt.Sprintf("apps:\n  - {file: web.yaml, command: %s, env: {COVE_TEST_EDGE_APP: http}}\n", command)
	}
	st := runEnv(t, dir, map[string]string{
		"web.yaml":  webApp(ingress, "1"),
		"cove.yaml": coveYAML(fmt.Sprintf("[%q]", exe)),
	})
	client := NewClient(filepath.Join(dir, "cove.yaml"))
	first := st.Apps[0].Revision
	oldPIDs := []int{st.Apps[0].Replicas[0].PID, st.Apps[0].Replicas[1].PID}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	seen := map[string]int{}
	var last string
	for range 4 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				rev, _, err := revisionAt(c, st.Edge.HTTP, "web.localhost")
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					seen[rev]++
					last = rev
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	write(t, dir, "web.yaml", webApp(ingress, "2"))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	second := appStatus(t, client, "web").Revision
	waitGone(t, oldPIDs)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	if diff := cmp.Diff(ReloadResult{Revisions: []string{fmt.Sprintf("web: %s → %s", first, second)}}, res); diff != "" {
		t.Errorf("reload (-want +got):\n%s", diff)
	}
	if len(failures) > 0 {
		t.Errorf("%d requests failed during the reload, the first: %s", len(failures), failures[0])
	}
	if seen[first] == 0 || seen[second] == 0 || last != second {
		t.Errorf("revisions that answered: %v, the last %s; want both, the last %s", seen, last, second)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(appStatus(t, client, "web").Revisions) != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	web := appStatus(t, client, "web")
	if len(web.Revisions) != 1 || web.Revisions[0].Name != second || len(web.Replicas) != 2 {
		t.Errorf("after the old revision stopped: revisions %+v, replicas %+v", web.Revisions, web.Replicas)
	}

	// A command that exits at once: its revision never gets ready.
	write(t, dir, "cove.yaml", coveYAML(`["/bin/sh", "-c", "echo no database here; exit 3"]`))
	res, err = client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "exited before it was ready") ||
		!strings.Contains(res.Errors[0], "no database here") || len(res.Revisions) != 0 {
		t.Errorf("reload with a failing command: %+v", res)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if rev, _, err := revisionAt(c, st.Edge.HTTP, "web.localhost"); err != nil || rev != second {
		t.Errorf("after the failed revision, %q answered (%v), want %s", rev, err, second)
	}
	web = appStatus(t, client, "web")
	if len(web.Revisions) != 1 || web.Revisions[0].Name != second || len(web.Replicas) != 2 {
		t.Errorf("after the failed revision: revisions %+v, replicas %+v", web.Revisions, web.Replicas)
	}
}

// TestRetiringRevisionFinishesInvocations holds a Dapr invocation from
// another app's sidecar on the only replica of an app while a reload
// replaces its revision: the retiring revision is not stopped under the
// invocation, which finishes with 200, and stops once it has.
func TestRetiringRevisionFinishesInvocations(t *testing.T) {
	dir := t.TempDir()
	st, client := runWebAndFront(t, dir)
	front := appStatus(t, client, "front")
	web := appStatus(t, client, "web")
	first, old := web.Revision, web.Replicas[0]

	type result struct {
		code int
		body string
		err  error
	}
	invoked := make(chan result, 1)
	go func() {
		c := &http.Client{Timeout: 30 * time.Second}
		res, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/v1.0/invoke/web/method/hold", front.Replicas[0].DaprHTTPPort))
		if err != nil {
			invoked <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		invoked <- result{code: res.StatusCode, body: string(b)}
	}()
	waitHeld(t, st.Edge.HTTP, "web.localhost", "1")

	write(t, dir, "web.yaml", daprApp("web", "2"))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	second := appStatus(t, client, "web").Revision
	if diff := cmp.Diff([]string{fmt.Sprintf("web: %s → %s", first, second)}, res.Revisions); diff != "" {
		t.Fatalf("reload (-want +got):\n%s", diff)
	}
	// A drain that did not count the invocation would stop the replica
	// once its settle time is over, failing the invocation.
	select {
	case r := <-invoked:
		t.Fatalf("the invocation ended before the app let it: %d %q %v", r.code, r.body, r.err)
	case <-time.After(5 * drainSettle):
	}
	if syscall.Kill(old.PID, 0) != nil || zombie(old.PID) {
		t.Fatal("the retiring revision's replica stopped while an invocation of it was in flight")
	}
	revs := appStatus(t, client, "web").Revisions
	if len(revs) != 2 || revs[1].Name != first || revs[1].State != string(revStopping) {
		t.Errorf("revisions while the old one drains: %+v", revs)
	}

	// The old replica is out of the routing table: release it directly.
	if res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/release", old.Port)); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	select {
	case r := <-invoked:
		if r.err != nil || r.code != http.StatusOK || r.body != "finished" {
			t.Errorf("the invocation across the rollout: %d %q %v, want 200 finished", r.code, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the invocation did not complete")
	}
	waitGone(t, []int{old.PID})
}

// daprApp is an app with Dapr and external ingress, one replica, VERSION
// in its environment.
func daprApp(name, version string) string {
	return fmt.Sprintf(`
name: %[1]s
properties:
  configuration:
    ingress: {external: true, allowInsecure: true, targetPort: 8000}
    dapr: {enabled: true, appId: %[1]s, appPort: 8000}
  template:
    containers: [{name: main, image: x, env: [{name: VERSION, value: "%[2]s"}]}]
    scale: {minReplicas: 1, maxReplicas: 1}
`, name, version)
}

// runWebAndFront runs two apps of daprApp, web and front, in dir.
func runWebAndFront(t *testing.T, dir string) (*Status, *Client) {
	t.Helper()
	st := runEnv(t, dir, map[string]string{
		"web.yaml":   daprApp("web", "1"),
		"front.yaml": daprApp("front", "1"),
		"cove.yaml": fmt.Sprintf(`apps:
  - {file: web.yaml, command: [%[1]q], env: {COVE_TEST_EDGE_APP: http}}
  - {file: front.yaml, command: [%[1]q], env: {COVE_TEST_EDGE_APP: http}}
`, testExe(t)),
	})
	return st, NewClient(filepath.Join(dir, "cove.yaml"))
}

// coveEntry is an app's entry in cove.yaml: its file <name>.yaml, command
// (a YAML list) and env for the test binary's HTTP mode, with extra env
// ("K: V, ..." or "").
func coveEntry(name, command, env string) string {
	if env != "" {
		env = ", " + env
	}
	return fmt.Sprintf("  - {file: %s.yaml, command: %s, env: {COVE_TEST_EDGE_APP: http%s}}\n", name, command, env)
}

// twoAppsIngress is the ingress of runTwoApps' apps.
const twoAppsIngress = "    ingress: {external: true, allowInsecure: true, targetPort: 8000}\n"

// twoApps is an environment of two apps, api and shop, from runTwoApps.
type twoApps struct {
	exe    string // the test binary as a YAML command list
	st     *Status
	client *Client
	before map[string]string // each app's revision at the start
}

// runTwoApps runs api and shop, the test binary in HTTP mode, in dir with
// the given revision timeout.
func runTwoApps(t *testing.T, dir string, revisionTimeout time.Duration) twoApps {
	t.Helper()
	exe := fmt.Sprintf("[%q]", testExe(t))
	st := runEnvWith(t, dir, map[string]string{
		"api.yaml":  namedApp("api", twoAppsIngress, "1"),
		"shop.yaml": namedApp("shop", twoAppsIngress, "1"),
		"cove.yaml": "apps:\n" + coveEntry("api", exe, "") + coveEntry("shop", exe, ""),
	}, Options{RevisionTimeout: revisionTimeout})
	before := map[string]string{}
	for _, a := range st.Apps {
		before[a.Name] = a.Revision
	}
	return twoApps{exe: exe, st: st, client: NewClient(filepath.Join(dir, "cove.yaml")), before: before}
}

// TestReloadRollsOutAppsConcurrently reloads two apps whose new revisions
// each get ready only once the other's replicas have started: one rollout
// after the other would wait for ever (here, until the revision timeout);
// side by side, both roll out.
func TestReloadRollsOutAppsConcurrently(t *testing.T) {
	dir := t.TempDir()
	two := runTwoApps(t, dir, 20*time.Second)
	exe, st, client, before := two.exe, two.st, two.client, two.before

	waitFor := func(self, other string) string {
		return fmt.Sprintf("COVE_TEST_TOUCH: %q, COVE_TEST_WAIT_FOR: %q",
			filepath.Join(dir, self+"-started"), filepath.Join(dir, other+"-started"))
	}
	write(t, dir, "cove.yaml", "apps:\n"+coveEntry("api", exe, waitFor("api", "shop"))+coveEntry("shop", exe, waitFor("shop", "api")))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after := map[string]string{}
	for _, name := range []string{"api", "shop"} {
		after[name] = appStatus(t, client, name).Revision
	}
	want := ReloadResult{Revisions: []string{
		fmt.Sprintf("api: %s → %s", before["api"], after["api"]),
		fmt.Sprintf("shop: %s → %s", before["shop"], after["shop"]),
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Fatalf("reload of two apps (-want +got):\n%s", diff)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, name := range []string{"api", "shop"} {
		if after[name] == before[name] {
			t.Errorf("app %s kept revision %s", name, before[name])
		}
		if rev, _, err := revisionAt(c, st.Edge.HTTP, name+".localhost"); err != nil || rev != after[name] {
			t.Errorf("%s.localhost reached %q (%v), want %s", name, rev, err, after[name])
		}
	}
}

// TestReloadRevisionTimeout reloads two apps whose new revisions fail:
// api's replicas never listen, so the revision timeout (short here) gives
// up on them; shop's process exits. Each app's error is reported, naming
// the app and the revision, and each keeps serving its revision.
func TestReloadRevisionTimeout(t *testing.T) {
	dir := t.TempDir()
	two := runTwoApps(t, dir, time.Second)
	exe, st, client, before := two.exe, two.st, two.client, two.before

	for _, name := range []string{"api", "shop"} {
		write(t, dir, name+".yaml", strings.Replace(namedApp(name, twoAppsIngress, "2"), "  template:\n", "  template:\n    revisionSuffix: v2\n", 1))
	}
	write(t, dir, "cove.yaml", "apps:\n"+
		coveEntry("api", exe, fmt.Sprintf("COVE_TEST_WAIT_FOR: %q", filepath.Join(dir, "never")))+
		coveEntry("shop", `["/bin/sh", "-c", "echo no database here; exit 3"]`, ""))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Revisions) != 0 || len(res.Errors) != 2 {
		t.Fatalf("reload with two failing revisions: %+v", res)
	}
	for i, want := range [][]string{
		{"app api keeps its current revision: new revision api--v2: replicas api--v2-0, api--v2-1 were not ready within 1s"},
		{"app shop keeps its current revision: new revision shop--v2: replica shop--v2-", "exited before it was ready", "no database here"},
	} {
		for _, w := range want {
			if !strings.Contains(res.Errors[i], w) {
				t.Errorf("error %d is %q; want it to say %q", i, res.Errors[i], w)
			}
		}
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, name := range []string{"api", "shop"} {
		if rev, version, err := revisionAt(c, st.Edge.HTTP, name+".localhost"); err != nil || rev != before[name] || version != "1" {
			t.Errorf("after the failed rollout %s.localhost reached %q with VERSION %q (%v), want %s", name, rev, version, err, before[name])
		}
		app := appStatus(t, client, name)
		if len(app.Revisions) != 1 || app.Revisions[0].Name != before[name] || len(app.Replicas) != 2 {
			t.Errorf("app %s after the failed rollout: revisions %+v, replicas %+v", name, app.Revisions, app.Replicas)
		}
	}
}

// TestReloadMovesTargetLabel runs an app in Labels mode whose traffic goes
// 80/20 to the labels prod and stage, with stage as the target label. Each
// reload's new revision takes stage and its 20%; prod stays; the revision
// stage left, which nothing else keeps, stops.
func TestReloadMovesTargetLabel(t *testing.T) {
	exe := testExe(t)
	dir := t.TempDir()
	configuration := `    activeRevisionsMode: Labels
    targetLabel: stage
    ingress:
      external: true
      allowInsecure: true
      targetPort: 8000
      traffic:
        - {label: prod, weight: 80}
        - {label: stage, weight: 20}`
	st := runEnv(t, dir, map[string]string{
		"web.yaml":  webApp(configuration, "1"),
		"cove.yaml": fmt.Sprintf("apps:\n  - {file: web.yaml, command: [%q], env: {COVE_TEST_EDGE_APP: http}}\n", exe),
	})
	client := NewClient(filepath.Join(dir, "cove.yaml"))
	c := &http.Client{Timeout: 10 * time.Second}
	reaches := func(want map[string]string) {
		t.Helper()
		for host, rev := range want {
			if got, _, err := revisionAt(c, st.Edge.HTTP, host); err != nil || got != rev {
				t.Errorf("%s reached %q (%v), want %s", host, got, err, rev)
			}
		}
	}
	first := st.Apps[0].Revision
	reaches(map[string]string{"web---prod.localhost": first, "web---stage.localhost": first, "web.localhost": first})

	write(t, dir, "web.yaml", webApp(configuration, "2"))
	res, err := client.Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	second := appStatus(t, client, "web").Revision
	want := ReloadResult{Revisions: []string{fmt.Sprintf("web: %s → %s (traffic: %s 20%%, %s 80%%)", first, second, second, first)}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("first reload (-want +got):\n%s", diff)
	}
	reaches(map[string]string{"web---prod.localhost": first, "web---stage.localhost": second})
	got := map[string]int{}
	for range 100 {
		rev, _, err := revisionAt(c, st.Edge.HTTP, "web.localhost")
		if err != nil {
			t.Fatal(err)
		}
		got[rev]++
	}
	if diff := cmp.Diff(map[string]int{first: 80, second: 20}, got); diff != "" {
		t.Errorf("100 requests split by label (-want +got):\n%s", diff)
	}
	secondPIDs := []int{}
	for _, r := range appStatus(t, client, "web").Replicas {
		if r.Revision == second {
			secondPIDs = append(secondPIDs, r.PID)
		}
	}

	write(t, dir, "web.yaml", webApp(configuration, "3"))
	if res, err = client.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	third := appStatus(t, client, "web").Revision
	want = ReloadResult{Revisions: []string{
		fmt.Sprintf("web: %s → %s (traffic: %s 20%%, %s 80%%)", second, third, third, first),
		fmt.Sprintf("web: %s stopped (its label stage moved to %s)", second, third),
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("second reload (-want +got):\n%s", diff)
	}
	reaches(map[string]string{"web---prod.localhost": first, "web---stage.localhost": third})
	waitGone(t, secondPIDs)
	deadline := time.Now().Add(10 * time.Second)
	for len(appStatus(t, client, "web").Revisions) != 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	wantRevs := []RevisionStatus{
		{Name: third, State: "active", Latest: true, Weight: 20, Labels: []string{"stage"}, Replicas: 2, Ready: 2},
		{Name: first, State: "active", Weight: 80, Labels: []string{"prod"}, Replicas: 2, Ready: 2},
	}
	if diff := cmp.Diff(wantRevs, appStatus(t, client, "web").Revisions, ignoreCreated); diff != "" {
		t.Errorf("revisions once the second stopped (-want +got):\n%s", diff)
	}
}

// TestFailedAppDoesNotHoldTheStart runs an app that exits at start beside
// one that serves: the environment reports ready once the failing replica
// has exited, naming the app, why and its last lines; its status carries
// the problem. A reload's revision that fails is reported as an error.
func TestFailedAppDoesNotHoldTheStart(t *testing.T) {
	exe := testExe(t)
	dir := t.TempDir()
	var mu sync.Mutex
	var events []Event
	coveYAML := func(badCommand string) string {
		return fmt.Sprintf(`apps:
  - {file: web.yaml, command: [%q], env: {COVE_TEST_EDGE_APP: http}}
  - {file: bad.yaml, command: %s}
`, exe, badCommand)
	}
	st := runEnvWith(t, dir, map[string]string{
		"web.yaml":  webApp("    ingress: {external: true, targetPort: 8000}\n", "1"),
		"bad.yaml":  namedApp("bad", "    ingress: {external: false, targetPort: 8000}\n", "1"),
		"cove.yaml": coveYAML(`["/bin/sh", "-c", "echo no database here; exit 3"]`),
	}, Options{Events: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	}})
	problems := map[string]string{}
	for _, a := range st.Apps {
		problems[a.Name] = a.Problem
	}
	if problems["web"] != "" || !strings.Contains(problems["bad"], "exited (exit status 3)") {
		t.Errorf("problems at ready: %q", problems)
	}
	mu.Lock()
	var notReady []Event
	for _, ev := range events {
		if ev.Kind == EventAppNotReady {
			notReady = append(notReady, ev)
		}
	}
	mu.Unlock()
	if len(notReady) != 1 || notReady[0].App != "bad" || !slices.Contains(notReady[0].Lines, "no database here") {
		t.Errorf("not-ready events: %+v, want one for bad with its last line", notReady)
	}

	write(t, dir, "cove.yaml", coveYAML(`["/bin/sh", "-c", "echo still no database; exit 4"]`))
	res, err := NewClient(filepath.Join(dir, "cove.yaml")).Reload(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 {
		t.Errorf("reload with a failing revision: %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for _, ev := range events {
		if ev.Kind == EventRevision && strings.Contains(ev.Message, "stopped") {
			if ev.Err == nil {
				t.Errorf("the failed revision's stop is reported as a success: %+v", ev)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d events of a stopped revision, want 1", failed)
	}
}

// TestMissingCommandDoesNotHoldTheStart runs, without the replica
// launcher (as where there is none), an app whose command does not exist
// beside one that serves: the environment still gets ready, with the app
// reported as failed and why.
func TestMissingCommandDoesNotHoldTheStart(t *testing.T) {
	exe := testExe(t)
	st := runEnvWith(t, t.TempDir(), map[string]string{
		"web.yaml": webApp("    ingress: {external: true, targetPort: 8000}\n", "1"),
		"bad.yaml": namedApp("bad", "    ingress: {external: false, targetPort: 8000}\n", "1"),
		"cove.yaml": fmt.Sprintf(`apps:
  - {file: web.yaml, command: [%q], env: {COVE_TEST_EDGE_APP: http}}
  - {file: bad.yaml, command: [./no-such-binary]}
`, exe),
	}, Options{Launcher: []string{}})
	for _, a := range st.Apps {
		switch a.Name {
		case "web":
			if a.Problem != "" || a.Replicas[0].State != "Ready" {
				t.Errorf("web: %+v", a)
			}
		case "bad":
			if !strings.Contains(a.Problem, "no-such-binary") || a.Replicas[0].State != "Failed" || a.Replicas[0].Ready {
				t.Errorf("bad: problem %q, replicas %+v; want it failed, naming its command", a.Problem, a.Replicas)
			}
		}
	}
}
