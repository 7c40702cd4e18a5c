package control

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCallsSucceedAfterReplicaRestart kills the only replica of an app while
// the edge and the invoker keep several connections to it alive, and checks
// that once it is back on the same port and ready, every call through the
// edge and through Dapr invocation succeeds: none goes out on a connection
// the dead process held.
func TestCallsSucceedAfterReplicaRestart(t *testing.T) {
	st, client := runWebAndFront(t, t.TempDir())
	front := appStatus(t, client, "front").Replicas[0]
	victim := appStatus(t, client, "web").Replicas[0]
	invokeURL := fmt.Sprintf("http://127.0.0.1:%d/v1.0/invoke/web/method", front.DaprHTTPPort)

	// Four requests held at once through each path leave four kept-alive
	// connections to the replica in each pool.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { edgeGet(t, st.Edge.HTTP, "web.localhost", "/hold", nil) })
		wg.Go(func() {
			if res, err := http.Get(invokeURL + "/hold"); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	waitHeld(t, st.Edge.HTTP, "web.localhost", "8")
	edgeGet(t, st.Edge.HTTP, "web.localhost", "/release", nil)
	wg.Wait()

	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := appStatus(t, client, "web").Replicas[0]
		if r.Restarts >= 1 && r.Ready && r.PID != victim.PID {
			if r.Port != victim.Port {
				t.Fatalf("replica restarted on port %d, was %d", r.Port, victim.Port)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not restarted and ready within 30s: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 10 {
		if code, body := edgeGet(t, st.Edge.HTTP, "web.localhost", "/env", nil); code != http.StatusOK {
			t.Errorf("edge GET %d after the restart: %d %q", i, code, body)
		}
		res, err := http.Get(invokeURL + "/env")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("invocation %d after the restart: %d %q", i, res.StatusCode, b)
		}
	}
}
