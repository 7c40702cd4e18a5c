package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/control"
)

// replica returns the status of one replica by name.
func replica(st control.Status, name string) (control.ReplicaStatus, bool) {
	for _, a := range st.Apps {
		for _, r := range a.Replicas {
			if r.Name == name {
				return r, true
			}
		}
	}
	return control.ReplicaStatus{}, false
}

// TestReplicaRestartsAfterCrash kills a backend replica's process and
// checks that the supervisor restarts it, that it becomes ready again, and
// that the other replica served in the meantime.
func TestReplicaRestartsAfterCrash(t *testing.T) {
	dir := copyExample(t, "triage")
	e := up(t, filepath.Join(dir, "cove.yaml"))

	var victim control.ReplicaStatus
	for _, a := range e.status().Apps {
		if a.Name == "triage-backend" {
			victim = a.Replicas[0]
		}
	}
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, ok := replica(e.status(), victim.Name)
		if ok && r.Restarts >= 1 && r.Ready && r.PID != victim.PID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not restarted and ready within 30s: %+v", victim.Name, r)
		}
		// Requests keep working on the surviving replica meanwhile.
		if code, body := e.edge(t, "GET", "triage-frontend", "/api/patients", ""); code != 200 {
			t.Fatalf("frontend during the restart: %d %q", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.stop()
}

// TestPsWithoutEnvironment checks that ps explains what to do when nothing
// runs.
func TestPsWithoutEnvironment(t *testing.T) {
	dir := t.TempDir()
	e := &env{t: t, file: filepath.Join(dir, "cove.yaml")}
	_, err := e.cove("ps")
	if err == nil || !strings.Contains(err.Error(), "cove up") {
		t.Fatalf("cove ps with nothing running: %v, want an error that says to run cove up", err)
	}
}

// TestTriageOnRedisSurvivesRestart runs the Redis variant of the example
// (a change of component file only) and checks that patients survive a
// restart of the whole environment, as the workshop promises.
func TestTriageOnRedisSurvivesRestart(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("COVE_REQUIRE_SERVICES") != "" {
			t.Fatalf("redis on 127.0.0.1:6379: %v", err)
		}
		t.Skipf("redis on 127.0.0.1:6379: %v", err)
	}
	dir := copyExample(t, "triage")
	// A key prefix of its own keeps this run's keys apart from anyone
	// else's on the shared Redis.
	prefix := fmt.Sprintf("cove-e2e-%d", time.Now().UnixNano())
	comp := filepath.Join(dir, "components", "statestore.redis.yaml")
	b, err := os.ReadFile(comp)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "value: appid", "value: "+prefix, 1))
	if err := os.WriteFile(comp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(t.Context(), prefix+"||patients") })

	file := filepath.Join(dir, "cove.redis.yaml")
	e := up(t, file)
	name := fmt.Sprintf("Redis patient %d", time.Now().UnixNano())
	if code, body := e.edge(t, "POST", "triage-frontend", "/api/patients", `{"name":"`+name+`","urgency":"Low"}`); code != 201 {
		t.Fatalf("POST /api/patients: %d %q", code, body)
	}
	e.stop()
	if n, err := rdb.Exists(t.Context(), prefix+"||patients").Result(); err != nil || n != 1 {
		t.Fatalf("key %s||patients in redis: %d, %v", prefix, n, err)
	}

	e = up(t, file)
	if code, body := e.edge(t, "GET", "triage-frontend", "/api/patients", ""); code != 200 || !strings.Contains(body, name) {
		t.Fatalf("after restart: %d, patient missing from %q", code, body)
	}
	e.stop()
}
