package file_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/components/configuration/conformance"
	"github.com/cove-env/cove/internal/components/configuration/local/file"
)

// writeAtomic replaces path's content through a temporary file and a
// rename, as editors and deployment tools do.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// backend keeps the items and rewrites the whole file at each change.
type backend struct {
	mu    sync.Mutex
	path  string
	items map[string]map[string]string
}

func (b *backend) write(t *testing.T) {
	t.Helper()
	data, err := json.Marshal(b.items)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, b.path, string(data))
}

func (b *backend) Set(t *testing.T, key, value, version string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	it := map[string]string{"value": value}
	if version != "" {
		it["version"] = version
	}
	b.items[key] = it
	b.write(t)
}

func (b *backend) Delete(t *testing.T, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.items, key)
	b.write(t)
}

func open(t *testing.T, path string) configuration.Store {
	t.Helper()
	st, err := conformance.Open(t, file.Type, map[string]string{"filePath": path, "pollInterval": "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	b := &backend{path: filepath.Join(t.TempDir(), "config.json"), items: map[string]map[string]string{}}
	b.write(t)
	conformance.Run(t, func(t *testing.T) configuration.Store { return open(t, b.path) }, b)
}

func TestFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeAtomic(t, path, `
limits.orders: 100
feature.checkout:
  value: "on"
  version: 3
  metadata: {owner: payments}
empty:
`)
	items, err := open(t, path).Get(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("Get = %v; want three items", items)
	}
	if it := items["feature.checkout"]; it.Value != "on" || it.Version != "3" || it.Metadata["owner"] != "payments" {
		t.Errorf("feature.checkout = %+v; want on, version 3, owner payments", it)
	}
	limits := items["limits.orders"]
	if limits.Value != "100" || len(limits.Version) != 12 {
		t.Errorf("limits.orders = %+v; want 100 with a 12-digit content hash as version", limits)
	}
	if items["empty"].Value != "" {
		t.Errorf("empty = %+v; want an empty value", items["empty"])
	}
	// The content hash depends on the value only: the same after a restart,
	// another when the value changes.
	path2 := filepath.Join(t.TempDir(), "config.json")
	writeAtomic(t, path2, `{"a": "100", "b": "101"}`)
	again, err := open(t, path2).Get(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again["a"].Version != limits.Version || again["b"].Version == limits.Version {
		t.Errorf("versions %q, %q; want %q for the same value and another for another", again["a"].Version, again["b"].Version, limits.Version)
	}
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeAtomic(t, bad, "a: 1\nb:\n  value: x\n  colour: red\n")
	list := filepath.Join(dir, "list.yaml")
	writeAtomic(t, list, "- a\n- b\n")
	for _, tt := range []struct {
		name  string
		props map[string]string
		want  []string
	}{
		{"no filePath", map[string]string{}, []string{"filePath", "required"}},
		{"missing file", map[string]string{"filePath": filepath.Join(dir, "nope.yaml")}, []string{"filePath", "nope.yaml"}},
		{"unknown field", map[string]string{"filePath": bad}, []string{bad, "line 3", `"b"`, `"colour"`, "value, version and metadata"}},
		{"not a mapping", map[string]string{"filePath": list}, []string{list, "line 1", "not a mapping"}},
		{"bad interval", map[string]string{"filePath": list, "pollInterval": "-1s"}, []string{"pollInterval", "positive"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conformance.Open(t, file.Type, tt.props)
			if err == nil {
				t.Fatal("Init succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Init = %v; want it to name %s", err, w)
				}
			}
		})
	}
}

// A file that does not parse is skipped; the next valid content is
// compared with the last valid one.
func TestBrokenFileSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	writeAtomic(t, path, "a: 1\nb: 2\n")
	st := open(t, path)
	got := make(chan *configuration.Update, 10)
	if _, err := st.Subscribe(t.Context(), nil, nil, func(_ context.Context, u *configuration.Update) error {
		got <- u
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, path, "a: [unclosed\n")
	time.Sleep(300 * time.Millisecond)
	writeAtomic(t, path, "a: 1\nc: 3\n")
	select {
	case u := <-got:
		if len(u.Items) != 2 || u.Items["c"] == nil || u.Items["c"].Value != "3" || u.Items["b"] == nil || u.Items["b"].Value != "" || u.Items["b"].Version != "" {
			t.Fatalf("update = %v; want c added and b removed (an empty item), a unchanged and left out", u.Items)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	select {
	case u := <-got:
		t.Fatalf("extra update %v", u.Items)
	case <-time.After(300 * time.Millisecond):
	}
}
