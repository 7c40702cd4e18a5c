package conformance

import (
	"net"
	"os"
	"testing"
	"time"
)

// RequireServicesEnv, when set, makes a test fail instead of skip when a
// backing server it needs is unreachable, so a CI run cannot pass by
// silently skipping every store.
const RequireServicesEnv = "COVE_REQUIRE_SERVICES"

// NeedService skips the test when nothing listens at addr (a TCP
// host:port), unless RequireServicesEnv is set; name says what server the
// test wanted.
func NeedService(t testing.TB, name, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		_ = conn.Close()
		return
	}
	if os.Getenv(RequireServicesEnv) != "" {
		t.Fatalf("%s is required (%s is set) but %s is unreachable: %v", name, RequireServicesEnv, addr, err)
	}
	t.Skipf("%s not reachable at %s: %v", name, addr, err)
}
