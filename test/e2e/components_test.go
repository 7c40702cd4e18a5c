package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/testaddr"
)

// TestComponentThatCannotConnect checks both answers to a store that is not
// there: by default `cove up` stops with a message naming the component and
// the address; with ignoreErrors: true the environment runs and `cove ps`
// shows the component as failed, with the cause.
func TestComponentThatCannotConnect(t *testing.T) {
	write := func(dir, name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app := "name: worker\nproperties:\n  configuration:\n    dapr: {enabled: true, appId: worker}\n  template:\n    containers: [{name: worker, image: worker}]\n"
	component := func(ignore bool) string {
		s := "componentType: state.redis\nversion: v1\ninitTimeout: 2s\nmetadata:\n  - {name: redisHost, value: \"127.0.0.1:1\"}\n"
		if ignore {
			s += "ignoreErrors: true\n"
		}
		return s
	}
	setup := func(ignore bool) string {
		dir := t.TempDir()
		write(dir, "app.yaml", app)
		write(dir, "store.yaml", component(ignore))
		write(dir, "cove.yaml", "apps:\n  - file: app.yaml\n    command: sleep 600\ncomponents:\n  - {name: orders-store, file: store.yaml}\n")
		return filepath.Join(dir, "cove.yaml")
	}

	t.Run("fails the start", func(t *testing.T) {
		cmd := exec.Command(coveBin, "up", "-f", setup(false), "--http-port", fmt.Sprint(testaddr.FreePort(t)))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("cove up succeeded with an unreachable store:\n%s", out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("cove up did not give up on an unreachable store:\n%s", out.String())
		}
		for _, want := range []string{"orders-store", "127.0.0.1:1"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output does not name %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("ignoreErrors keeps the environment up", func(t *testing.T) {
		e := up(t, setup(true))
		st := e.status()
		if len(st.Components) != 1 || st.Components[0].Status != "failed" || !strings.Contains(st.Components[0].Error, "127.0.0.1:1") {
			t.Fatalf("components = %+v, want orders-store failed with its address", st.Components)
		}
		out, err := e.cove("ps")
		if err != nil || !strings.Contains(out, "failed") {
			t.Errorf("cove ps: %v\n%s", err, out)
		}
		e.stop()
	})
}
