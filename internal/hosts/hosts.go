// Package hosts gives every app of an environment a loopback address of its
// own and writes the hosts file that names them. Replicas see that file as
// /etc/hosts (supervisor.ReplicaSpec.Hosts), and the edge listens on each
// app's address for the app's TCP ports, so `<app>:<port>` works from inside
// as it does through an ACA environment's DNS.
//
// The addresses come from 127.0.0.0/8, which Linux routes to the loopback
// interface with no setup; 127.0.x.x is left to the machine (127.0.0.1,
// Debian's 127.0.1.1). They are derived from the environment's key and the
// app's name, so they stay the same from one run to the next, and two
// environments on one machine are unlikely to share any.
package hosts

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"slices"
	"sync"
)

// Table maps app names to their addresses. It is safe for concurrent use.
type Table struct {
	key string

	mu    sync.Mutex
	addrs map[string]netip.Addr
	used  map[netip.Addr]string
}

// New returns an empty table for the environment identified by key (its
// directory, say).
func New(key string) *Table {
	return &Table{key: key, addrs: map[string]netip.Addr{}, used: map[netip.Addr]string{}}
}

// Add gives app an address, unless it has one, and returns it. An app keeps
// its address for the table's life; on a collision with another app's, the
// later app takes the next candidate.
func (t *Table) Add(app string) netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.addrs[app]; ok {
		return a
	}
	for attempt := 0; ; attempt++ {
		a := candidate(t.key, app, attempt)
		if _, taken := t.used[a]; !taken {
			t.addrs[app], t.used[a] = a, app
			return a
		}
	}
}

// Apps returns the apps that have an address, sorted.
func (t *Table) Apps() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.addrs))
	for app := range t.addrs {
		out = append(out, app)
	}
	slices.Sort(out)
	return out
}

// Addr returns app's address, if Add gave it one.
func (t *Table) Addr(app string) (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.addrs[app]
	return a, ok
}

// candidate is the attempt-th address for app: 127.b.c.d with b from 1 to
// 254 and d from 1 to 254, from a hash of the key and the name.
func candidate(key, app string, attempt int) netip.Addr {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", key, app, attempt)
	s := h.Sum64()
	return netip.AddrFrom4([4]byte{127, byte(1 + s%254), byte(s >> 8), byte(1 + (s>>16)%254)})
}

// Render returns the hosts file: one line per app, naming it `<app>` and
// `<app>.internal.<domain>`, in name order, then base (the machine's own
// /etc/hosts), so app names win over the machine's as in an environment's
// DNS, and every other name resolves as before.
func (t *Table) Render(domain string, base []byte) []byte {
	t.mu.Lock()
	apps := make([]string, 0, len(t.addrs))
	for app := range t.addrs {
		apps = append(apps, app)
	}
	slices.Sort(apps)
	var b bytes.Buffer
	b.WriteString("# The apps of this environment, written by cove; the machine's /etc/hosts follows.\n")
	for _, app := range apps {
		// An app may be called localhost; the name stays the machine's.
		if app == "localhost" {
			fmt.Fprintf(&b, "%s\t%s.internal.%s\n", t.addrs[app], app, domain)
			continue
		}
		fmt.Fprintf(&b, "%s\t%s %s.internal.%s\n", t.addrs[app], app, app, domain)
	}
	t.mu.Unlock()
	b.WriteString("\n")
	b.Write(base)
	if len(base) > 0 && base[len(base)-1] != '\n' {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Write writes the hosts file to path, based on the machine's /etc/hosts
// (or localhost alone where there is none). It rewrites the file in place:
// replicas see it through bind mounts, which follow the file, not its name.
func (t *Table) Write(path, domain string) error {
	base, err := os.ReadFile("/etc/hosts")
	if err != nil {
		base = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
	}
	if err := os.WriteFile(path, t.Render(domain, base), 0o644); err != nil {
		return fmt.Errorf("write the replicas' hosts file: %w", err)
	}
	return nil
}
