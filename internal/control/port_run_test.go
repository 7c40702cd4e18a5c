package control

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
)

// TestAppOnAnotherPort runs an app as Dapr's quickstarts are written: a
// fixed port in its code instead of $PORT, and Dapr's appPort declared. Its replica starts (no probes),
// yet every call to it would be refused: the status names the port it
// listens on and the one cove expects, and says what to do.
func TestAppOnAnotherPort(t *testing.T) {
	dir := t.TempDir()
	fixed := testaddr.FreePort(t)
	runEnv(t, dir, map[string]string{
		"quick.yaml": `
name: quick
properties:
  configuration:
    dapr: {enabled: true, appId: quick, appPort: 6006}
  template:
    containers: [{name: main, image: x}]
`,
		"cove.yaml": fmt.Sprintf("apps:\n  - {file: quick.yaml, command: [%q], env: {COVE_TEST_APP: \"1\", COVE_TEST_FIXED_PORT: \"%d\"}}\n", testExe(t), fixed),
	})
	client := NewClient(filepath.Join(dir, "cove.yaml"))
	deadline := time.Now().Add(20 * time.Second)
	var a AppStatus
	for {
		a = appStatus(t, client, "quick")
		if len(a.Replicas) == 1 && len(a.Replicas[0].ListenPorts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no other port reported within 20s: %+v", a)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := a.Replicas[0]
	if !slices.Equal(r.ListenPorts, []int{fixed}) || r.Port == fixed {
		t.Errorf("replica listens on %v, expected on %d; want [%d]", r.ListenPorts, r.Port, fixed)
	}
	want := fmt.Sprintf("replica %s listens on %d, not on its PORT %d: make the app listen on the port in $PORT", r.Name, fixed, r.Port)
	if !strings.HasPrefix(a.Problem, want) {
		t.Errorf("app problem %q, want %q", a.Problem, want)
	}
}
