package control

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The registry of running environments: one small file per environment
// that `cove up` runs, in a directory of the user's, so that commands run
// outside the environment's folder can find it. A file whose socket no
// longer answers (cove was killed) is removed by whoever reads it.

// Running is a running environment as the registry lists it.
type Running struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Socket string `json:"socket"`
	PID    int    `json:"pid"`
}

// RegistryDir is the user's registry of running environments:
// $XDG_RUNTIME_DIR/cove, else cove/running under the user's cache
// directory; empty when neither is known.
func RegistryDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "cove")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cove", "running")
	}
	return ""
}

// register lists a running environment in dir and returns what removes it.
func register(dir string, r Running) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, entryName(r.Socket))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(path) }, nil
}

// entryName is a socket's registry file: one per environment directory.
func entryName(socket string) string {
	sum := sha256.Sum256([]byte(socket))
	return hex.EncodeToString(sum[:8]) + ".json"
}

// ListRunning returns the environments in the registry dir whose socket
// answers, by file, removing the entries of the others.
func ListRunning(dir string) []Running {
	if dir == "" {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Running
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, ent.Name())
		b, err := os.ReadFile(path)
		var r Running
		if err != nil || json.Unmarshal(b, &r) != nil || r.Socket == "" || !pingSocket(r.Socket) {
			_ = os.Remove(path)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Locate finds the environment file of the running environment a command
// means. An explicit file (or a directory holding cove.yaml) is taken as
// given. Otherwise the nearest cove.yaml in dir or a parent is the one,
// when it runs; without any, the only environment in the registry. A
// cove.yaml nearby that does not run is never passed over for another
// environment, which a command such as down would then act on. When none
// matches, the error says what was looked at and suggests -f.
func Locate(file string, explicit bool, dir, registry string) (string, error) {
	if explicit {
		return EnvFile(file), nil
	}
	running := ListRunning(registry)
	var others strings.Builder
	for _, r := range running {
		fmt.Fprintf(&others, "\n  %s (%s)", r.File, r.Name)
	}
	for d := dir; ; d = filepath.Dir(d) {
		f := filepath.Join(d, DefaultFile)
		if _, err := os.Stat(f); err == nil {
			if pingSocket(SocketPath(f)) {
				return f, nil
			}
			msg := fmt.Sprintf("the environment of %s is not running; start it with `cove up -f %s`", f, f)
			if len(running) > 0 {
				msg += ", or name a running one with -f:" + others.String()
			}
			return "", errors.New(msg)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	switch len(running) {
	case 0:
		return "", fmt.Errorf("no running environment found: no %s in %s or its parents, and no environment of yours runs; "+
			"start one with `cove up -f FILE`, or name its file with -f", DefaultFile, dir)
	case 1:
		return running[0].File, nil
	}
	return "", fmt.Errorf("%d environments are running; say which with -f:%s", len(running), others.String())
}

// DefaultFile is the environment file commands look for.
const DefaultFile = "cove.yaml"

// EnvFile is the environment file a -f value names: the value, or
// cove.yaml inside it when it is a directory.
func EnvFile(file string) string {
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return filepath.Join(file, DefaultFile)
	}
	return file
}
