package control

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// answeringEnv makes an environment directory with a cove.yaml whose
// management socket answers until the test ends, and returns the file.
func answeringEnv(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, DefaultFile)
	write(t, dir, DefaultFile, "name: x\n")
	if err := os.MkdirAll(StateDir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", SocketPath(file))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return file
}

func TestLocateFindsTheRunningEnvironment(t *testing.T) {
	reg := t.TempDir()
	a := answeringEnv(t, t.TempDir())
	sub := filepath.Join(filepath.Dir(a), "backend", "internal")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()

	t.Run("explicit file or directory", func(t *testing.T) {
		for _, f := range []string{a, filepath.Dir(a)} {
			if got, err := Locate(f, true, elsewhere, reg); err != nil || got != a {
				t.Errorf("Locate(%s) = %q, %v; want %s", f, got, err, a)
			}
		}
	})
	t.Run("cove.yaml in a parent directory", func(t *testing.T) {
		if got, err := Locate(DefaultFile, false, sub, reg); err != nil || got != a {
			t.Errorf("Locate from %s = %q, %v; want %s", sub, got, err, a)
		}
	})
	t.Run("nothing runs", func(t *testing.T) {
		_, err := Locate(DefaultFile, false, elsewhere, reg)
		if err == nil || !strings.Contains(err.Error(), "no cove.yaml in "+elsewhere+" or its parents") ||
			!strings.Contains(err.Error(), "no environment of yours runs") || !strings.Contains(err.Error(), "-f") {
			t.Errorf("Locate with nothing to find: %v; want what was looked at and -f", err)
		}
	})

	unregister, err := register(reg, Running{Name: "a", File: a, Socket: SocketPath(a)})
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	// An environment killed without cleaning up after itself.
	gone := filepath.Join(t.TempDir(), DefaultFile)
	if _, err := register(reg, Running{Name: "gone", File: gone, Socket: SocketPath(gone)}); err != nil {
		t.Fatal(err)
	}

	t.Run("the only running environment", func(t *testing.T) {
		if got, err := Locate(DefaultFile, false, elsewhere, reg); err != nil || got != a {
			t.Errorf("Locate from elsewhere = %q, %v; want %s", got, err, a)
		}
		if _, err := os.Stat(filepath.Join(reg, entryName(SocketPath(gone)))); !os.IsNotExist(err) {
			t.Errorf("the dead environment's entry is still there: %v", err)
		}
	})
	t.Run("a cove.yaml here that is not running", func(t *testing.T) {
		// Not passed over for the running one, which cove down would stop.
		write(t, elsewhere, DefaultFile, "name: y\n")
		defer os.Remove(filepath.Join(elsewhere, DefaultFile))
		here := filepath.Join(elsewhere, DefaultFile)
		_, err := Locate(DefaultFile, false, elsewhere, reg)
		if err == nil || !strings.Contains(err.Error(), here+" is not running") || !strings.Contains(err.Error(), "cove up -f "+here) ||
			!strings.Contains(err.Error(), a) {
			t.Errorf("Locate beside a cove.yaml that does not run: %v; want it named, how to start it and the running one", err)
		}
	})
	t.Run("two running", func(t *testing.T) {
		b := answeringEnv(t, t.TempDir())
		unregister, err := register(reg, Running{Name: "b", File: b, Socket: SocketPath(b)})
		if err != nil {
			t.Fatal(err)
		}
		defer unregister()
		_, err = Locate(DefaultFile, false, elsewhere, reg)
		if err == nil || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), "-f") {
			t.Errorf("Locate with two running: %v; want both named and -f", err)
		}
	})
}
