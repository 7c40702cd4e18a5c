package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// JSSDKDir holds the JavaScript side of the tests that drive cove with the
// official Dapr JavaScript SDK: its package.json and package-lock.json, and
// the scripts.
var JSSDKDir = filepath.Join(RepoRoot(), "test", "jssdk")

var (
	npmOnce sync.Once
	npmErr  error
)

// NeedJSSDK makes sure node runs and the SDK is installed as
// package-lock.json pins it, running `npm ci` when node_modules does not
// match the lock. Without node or npm the test is skipped, or fails under
// COVE_REQUIRE_SERVICES. It returns node's path.
func NeedJSSDK(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = exec.LookPath("npm")
	}
	if err != nil {
		msg := fmt.Sprintf("node and npm are needed to run the JavaScript SDK (%v)", err)
		if os.Getenv("COVE_REQUIRE_SERVICES") != "" {
			t.Fatal("COVE_REQUIRE_SERVICES is set: " + msg)
		}
		t.Skip(msg)
	}
	npmOnce.Do(func() { npmErr = npmCI() })
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return node
}

// npmCI installs node_modules from package-lock.json, unless a stamp left
// by the last install says it is of this very lock. A lock file keeps test
// binaries that run at once (go test runs packages in parallel) from
// installing over each other.
func npmCI() error {
	lock, err := os.ReadFile(filepath.Join(JSSDKDir, "package-lock.json"))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(JSSDKDir, ".npm-ci.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // which unlocks it
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(JSSDKDir, "node_modules", ".cove-lock-sha256")
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = JSSDKDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", JSSDKDir, err, out)
	}
	return os.WriteFile(stamp, []byte(want), 0o644)
}
