package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestCrashingAppDoesNotHideTheSummary starts an environment where one app
// exits at start and another's executable is missing: cove up still
// prints the summary for the app that runs, says which apps are not ready
// and why (exit code, last lines), marks them in the summary and in cove
// ps, and shows none of them with a ✓. With port 8443 taken, the summary
// says which port HTTPS is on.
func TestCrashingAppDoesNotHideTheSummary(t *testing.T) {
	// Held here, or by another process already: taken either way.
	if ln, err := net.Listen("tcp", "127.0.0.1:8443"); err == nil {
		defer ln.Close()
	}
	file := smallEnv(t, "crashy",
		smallApp{name: "web", mode: "http"},
		smallApp{name: "bad", mode: "crash"},
		smallApp{name: "gone", command: "./no-such-binary"})
	e := start(t, "", file, "up", "-f", file)
	e.waitFor("environment crashy is up; not ready: bad, gone", time.Minute)
	out := e.out.String()
	for _, want := range []string{
		"✗ app bad is not ready: replica bad--",
		"exited (exit status 3)",
		"    fatal: cannot open the database",
		"exited (exit status 127)",
		"no-such-binary",
		"✗ bad ",
		"✗ gone ",
		"port 8443 is taken",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cove up's output lacks %q", want)
		}
	}
	if !strings.Contains(out, "  web   external  1/1") {
		t.Errorf("the summary does not list web as ready")
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✓") && (strings.Contains(l, "bad") || strings.Contains(l, "gone")) {
			t.Errorf("a failed app shown with a ✓: %q", l)
		}
	}

	ps, err := e.cove("ps")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"✗ bad ", "✗ bad is not ready: replica bad--", "exit status 3", "✗ gone is not ready"} {
		if !strings.Contains(ps, want) {
			t.Errorf("cove ps lacks %q:\n%s", want, ps)
		}
	}
	if t.Failed() {
		t.Logf("cove ps:\n%s", ps)
	}
	e.stop()
}
