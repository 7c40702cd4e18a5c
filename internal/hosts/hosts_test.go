package hosts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestAddressesAreStableAndDistinct(t *testing.T) {
	a := New("/envs/one")
	seen := map[string]string{}
	for i := range 2000 {
		app := fmt.Sprintf("app-%d", i)
		addr := a.Add(app)
		b := addr.As4()
		if b[0] != 127 || b[1] == 0 || b[3] == 0 || b[3] == 255 {
			t.Fatalf("%s got %s: want 127.b.c.d outside 127.0.0.0/16, d not 0 or 255", app, addr)
		}
		if other, dup := seen[addr.String()]; dup {
			t.Fatalf("%s and %s share %s", app, other, addr)
		}
		seen[addr.String()] = app
		if again := a.Add(app); again != addr {
			t.Fatalf("%s moved from %s to %s", app, addr, again)
		}
	}
	// The same environment gets the same addresses in the next run; another
	// environment gets others.
	b, c := New("/envs/one"), New("/envs/two")
	same, differ := 0, 0
	for i := range 100 {
		app := fmt.Sprintf("app-%d", i)
		want, _ := a.Addr(app)
		if b.Add(app) == want {
			same++
		}
		if c.Add(app) != want {
			differ++
		}
	}
	if same != 100 || differ < 99 {
		t.Errorf("same environment kept %d of 100 addresses, another differed on %d of 100", same, differ)
	}
	if _, ok := New("x").Addr("missing"); ok {
		t.Error("Addr reports an address for an app never added")
	}
}

func TestCollisionTakesTheNextCandidate(t *testing.T) {
	tb := New("k")
	first := tb.Add("a")
	// Pretend another app already holds b's first candidate.
	tb.used[candidate("k", "b", 0)] = "squatter"
	got := tb.Add("b")
	if got == candidate("k", "b", 0) || got == first {
		t.Errorf("b got %s, a taken address", got)
	}
	if got != candidate("k", "b", 1) {
		t.Errorf("b got %s, want its second candidate %s", got, candidate("k", "b", 1))
	}
}

func TestRender(t *testing.T) {
	tb := New("k")
	web, db := tb.Add("web"), tb.Add("db")
	out := string(tb.Render("apps.test", []byte("127.0.0.1\tlocalhost\n10.0.0.1 db")))
	lines := strings.Split(out, "\n")
	want := []string{
		lines[0],
		fmt.Sprintf("%s\tdb db.internal.apps.test", db),
		fmt.Sprintf("%s\tweb web.internal.apps.test", web),
		"",
		"127.0.0.1\tlocalhost",
		"10.0.0.1 db",
		"",
	}
	if !strings.HasPrefix(lines[0], "#") || strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Render:\n%s\nwant the apps in name order, before the machine's lines, ending in a newline", out)
	}
}

func TestLocalhostStaysTheMachines(t *testing.T) {
	tb := New("k")
	addr := tb.Add("localhost")
	out := string(tb.Render("localhost", []byte("127.0.0.1\tlocalhost\n")))
	if !strings.Contains(out, addr.String()+"\tlocalhost.internal.localhost\n") || strings.Contains(out, addr.String()+"\tlocalhost ") {
		t.Errorf("an app named localhost took the machine's name:\n%s", out)
	}
}

func TestWriteKeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	tb := New("k")
	tb.Add("web")
	if err := tb.Write(path, "localhost"); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	tb.Add("db")
	if err := tb.Write(path, "localhost"); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A bind mount follows the file, so a rewrite must not replace it.
	if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino {
		t.Error("Write replaced the file instead of rewriting it")
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), " db.internal.localhost\n") || !strings.Contains(string(b), " web.internal.localhost\n") {
		t.Errorf("hosts file:\n%s", b)
	}
}

func TestApps(t *testing.T) {
	tb := New("/envs/one")
	for _, app := range []string{"web", "api", "redis"} {
		tb.Add(app)
	}
	tb.Add("api")
	if got := strings.Join(tb.Apps(), ","); got != "api,redis,web" {
		t.Errorf("Apps() = %s", got)
	}
}
