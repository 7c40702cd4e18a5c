package localstorage_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/localstorage"
	"github.com/cove-env/cove/internal/components/componenttest"
)

func open(t *testing.T, root string) bindings.Output {
	t.Helper()
	b, err := componenttest.Open[bindings.Output](t, localstorage.Type, map[string]string{"rootPath": root})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invoke(t *testing.T, b bindings.Output, op, file string, data string) (*bindings.Response, error) {
	t.Helper()
	md := map[string]string{}
	if file != "" {
		md["fileName"] = file
	}
	return b.Invoke(t.Context(), &bindings.Request{Operation: op, Data: []byte(data), Metadata: md})
}

func TestOperations(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	// The HTTP API sends data JSON-encoded: a JSON string is unquoted.
	resp, err := invoke(t, b, "create", "notes/a.txt", `"hello"`)
	if err != nil || string(resp.Data) != `{"fileName":"notes/a.txt"}` {
		t.Fatalf("create = %s, %v", resp.Data, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "notes/a.txt")); string(got) != "hello" {
		t.Fatalf("file holds %q", got)
	}
	// Base64 is decoded, as in Dapr ("aGk=" is "hi").
	if _, err := invoke(t, b, "create", "b.bin", `"aGk="`); err != nil {
		t.Fatal(err)
	}
	resp, err = invoke(t, b, "get", "b.bin", "")
	if err != nil || string(resp.Data) != "hi" {
		t.Fatalf("get = %q, %v", resp.Data, err)
	}
	resp, err = invoke(t, b, "create", "", `"x"`)
	var named struct{ FileName string }
	if err != nil || json.Unmarshal(resp.Data, &named) != nil || len(named.FileName) != 36 {
		t.Fatalf("create without a name = %s, %v; want a UUID name", resp.Data, err)
	}
	resp, err = invoke(t, b, "list", "", "")
	var files []string
	if err != nil || json.Unmarshal(resp.Data, &files) != nil {
		t.Fatalf("list = %s, %v", resp.Data, err)
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	for _, want := range []string{"notes/a.txt", "b.bin", named.FileName} {
		if !slices.Contains(files, filepath.Join(realRoot, want)) {
			t.Errorf("list %v lacks %s", files, want)
		}
	}
	if _, err := invoke(t, b, "delete", "b.bin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := invoke(t, b, "get", "b.bin", ""); !errors.Is(err, bindings.ErrInvalid) {
		t.Fatalf("get after delete = %v; want file not found", err)
	}
}

func TestEscapesRefused(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	b := open(t, root)
	if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(parent, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ op, name string }{
		{"get", "../secret"}, {"create", "../evil"}, {"delete", "../secret"}, {"get", "/etc/passwd"},
		{"list", ".."}, {"create", "a/../../evil"}, {"get", "link/secret"}, {"create", "link/evil"},
	} {
		if _, err := invoke(t, b, c.op, c.name, `"x"`); err == nil {
			t.Errorf("%s %s succeeded; want it refused", c.op, c.name)
		}
	}
	if _, err := os.Stat(filepath.Join(parent, "evil")); err == nil {
		t.Error("a file was written outside rootPath")
	}
	if got, _ := os.ReadFile(filepath.Join(parent, "secret")); string(got) != "s" {
		t.Error("a file outside rootPath was changed")
	}
}

func TestInitErrors(t *testing.T) {
	if _, err := componenttest.Open[bindings.Output](t, localstorage.Type, nil); err == nil {
		t.Error("Init without rootPath succeeded")
	}
	if _, err := componenttest.Open[bindings.Output](t, localstorage.Type, map[string]string{"rootPath": "/proc/x"}); err == nil {
		t.Error("Init with rootPath under /proc succeeded")
	}
}
