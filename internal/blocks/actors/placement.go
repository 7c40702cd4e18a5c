package actors

import (
	"context"
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/cove-env/cove/internal/daprerr"
)

// virtualNodes is the points each host takes on a type's ring, Dapr's
// placement replicationFactor default.
const virtualNodes = 100

// Placement maps each actor type to the hosts (sidecars whose apps host
// it) and each actor id to one of them, by consistent hashing as Dapr's
// placement service does: a host's leaving moves only its own actors.
// Inside `cove up` one Placement serves the whole environment, in
// process. Lookups read an immutable table without locking.
type Placement struct {
	mu    sync.Mutex // guards hosts and writes of table
	hosts map[string]*Host
	table atomic.Pointer[map[string]*ring]

	// amu guards actors, and an activation's host, which is written
	// holding both amu and the activation's turn.
	amu    sync.Mutex
	actors map[string]*actor

	// remote, for `cove sidecar`, is the placement service the table
	// comes from; nil in process.
	remote *remote
}

// NewPlacement returns an empty placement table.
func NewPlacement() *Placement {
	p := &Placement{hosts: map[string]*Host{}, actors: map[string]*actor{}}
	p.table.Store(&map[string]*ring{})
	return p
}

// ring is one actor type's consistent hash.
type ring struct {
	points []uint64
	owner  map[uint64]*Host
	// only is the one host of a type only one hosts: every id is its,
	// without hashing.
	only *Host
}

func hash(s string) uint64 {
	sum := blake2b.Sum512([]byte(s))
	return binary.LittleEndian.Uint64(sum[:])
}

func (r *ring) get(id string) *Host {
	if r.only != nil {
		return r.only
	}
	h := hash(id)
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= h })
	if i == len(r.points) {
		i = 0
	}
	return r.owner[r.points[i]]
}

// Lookup returns the host of an actor, or daprd's ERR_ACTOR_NO_ADDRESS
// when no host has its type.
func (p *Placement) Lookup(actorType, actorID string) (*Host, error) {
	r := (*p.table.Load())[actorType]
	if r == nil {
		return nil, daprerr.New(daprerr.ActorNoAddress, "did not find address for actor '%s'", actorType+"||"+actorID)
	}
	return r.get(actorID), nil
}

// Types is the actor types some host has, sorted.
func (p *Placement) Types() []string {
	t := *p.table.Load()
	out := make([]string, 0, len(t))
	for k := range t {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (p *Placement) add(h *Host) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hosts[h.name] = h
	if p.remote != nil {
		p.remote.setSelf(p, h)
		return
	}
	p.rebuild()
}

func (p *Placement) remove(h *Host) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hosts[h.name] == h {
		delete(p.hosts, h.name)
		if p.remote != nil {
			p.remote.setSelf(p, nil)
			return
		}
		p.rebuild()
	}
}

// rebuild swaps in a new table; called under mu.
func (p *Placement) rebuild() {
	byType := map[string]map[string]*Host{}
	for _, h := range p.hosts {
		for typ := range h.cfg.Types {
			if byType[typ] == nil {
				byType[typ] = map[string]*Host{}
			}
			byType[typ][h.name] = h
		}
	}
	t := make(map[string]*ring, len(byType))
	for typ, hosts := range byType {
		t[typ] = newRing(hosts, virtualNodes)
	}
	p.swap(t, false)
}

// newRing places each host, by its name in the table, at rf points,
// hash(name + i), as Dapr's placement hashing does, so cove and daprd
// sidecars given the same table agree on every actor's host.
func newRing(hosts map[string]*Host, rf int) *ring {
	r := &ring{owner: make(map[uint64]*Host, len(hosts)*rf), points: make([]uint64, 0, len(hosts)*rf)}
	names := make(map[uint64]string, len(hosts)*rf)
	for name, h := range hosts {
		for i := range rf {
			pt := hash(name + strconv.Itoa(i))
			// On a collision the lower name wins, so the table does not
			// depend on map order.
			if o, ok := names[pt]; ok {
				if o < name {
					continue
				}
			} else {
				r.points = append(r.points, pt)
			}
			r.owner[pt], names[pt] = h, name
		}
	}
	slices.Sort(r.points)
	if len(hosts) == 1 {
		for _, h := range hosts {
			r.only = h
		}
	}
	return r
}

// swap stores a new table. Actors whose host stays but no longer owns
// them move now, as daprd's hosts drop them when a new table arrives;
// those of a host that left are its Close's to deactivate. With wait, it
// returns once they are deactivated (a placement service's round waits
// for it, as daprd's does).
func (p *Placement) swap(t map[string]*ring, wait bool) {
	p.table.Store(&t)
	var wg sync.WaitGroup
	p.amu.Lock()
	for _, a := range p.actors {
		if old := a.host; old != nil && p.hosts[old.name] == old {
			if r := t[a.typ]; r == nil || r.get(a.id) != old {
				wg.Go(func() { old.drain(context.Background(), a) })
			}
		}
	}
	p.amu.Unlock()
	if wait {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		// The round must be acknowledged within the service's
		// dissemination timeout (8s by default), or this sidecar is
		// dropped; the drains that take longer go on meanwhile.
		select {
		case <-done:
		case <-time.After(maxDrainWait):
		}
	}
}

// maxDrainWait bounds how long a placement service's update waits for the
// actors it moved away to be deactivated.
const maxDrainWait = 5 * time.Second
