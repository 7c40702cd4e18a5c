package nameresolution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cove-env/cove/internal/components"
)

// Registration is one sidecar's entry in a Registry.
type Registration struct {
	// Namespace and AppID say which app the sidecar serves.
	Namespace string
	AppID     string
	// InstanceID tells apart the sidecars of one app id; each sidecar
	// process picks a random one.
	InstanceID string
	// Address is host:port of the sidecar's internal listener.
	Address string
}

// Validate reports a registration with an empty field; implementations
// call it before writing.
func (r Registration) Validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"namespace", r.Namespace}, {"app id", r.AppID}, {"instance id", r.InstanceID}, {"address", r.Address},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("registration of %q: %s missing", r.AppID, strings.Join(missing, ", "))
	}
	return nil
}

// Registry is a directory of live sidecars shared by several processes.
// Implementations are safe for concurrent use.
type Registry interface {
	// Init connects with the component's metadata (Dapr's keys where Dapr
	// has them) and creates what the registry needs (tables).
	Init(ctx context.Context, md components.Metadata) error
	// Register adds reg, or refreshes it when its instance is already
	// registered. It stays live for TTL() after the last call.
	Register(ctx context.Context, reg Registration) error
	// Deregister removes reg's instance at once; an unknown instance is not
	// an error.
	Deregister(ctx context.Context, reg Registration) error
	// Lookup returns the live registrations of appID in namespace, sorted
	// by instance id; none is not an error.
	Lookup(ctx context.Context, namespace, appID string) ([]Registration, error)
	// UpdateInterval is how often a sidecar refreshes its registration
	// (Dapr's updateInterval, default 5s).
	UpdateInterval() time.Duration
	// TTL is how long a registration lives without a refresh: a few update
	// intervals, so one slow heartbeat does not drop a live sidecar.
	TTL() time.Duration
	// Close releases connections; registrations stay until they expire.
	Close() error
}

// DefaultUpdateInterval is Dapr's default updateInterval.
const DefaultUpdateInterval = 5 * time.Second

// TTLFactor is how many update intervals a registration outlives its last
// refresh.
const TTLFactor = 3

// CommonSettings are the metadata every implementation reads. A registry
// embeds them, from DefaultCommon, in the struct it decodes its metadata
// into, then calls Check.
type CommonSettings struct {
	UpdateInterval time.Duration `metadata:"updateInterval"`
	Timeout        time.Duration `metadata:"timeout,timeoutInSeconds"`
}

// DefaultCommon is updateInterval's default (5s) with timeout defTimeout.
func DefaultCommon(defTimeout time.Duration) CommonSettings {
	return CommonSettings{UpdateInterval: DefaultUpdateInterval, Timeout: defTimeout}
}

// Check truncates updateInterval to whole seconds, as Dapr does, and
// refuses an updateInterval or timeout under 1s.
func (c *CommonSettings) Check() error {
	var errs []error
	c.UpdateInterval = c.UpdateInterval.Truncate(time.Second)
	if c.UpdateInterval < time.Second {
		errs = append(errs, fmt.Errorf("metadata updateInterval %s: must be at least 1s", c.UpdateInterval))
	}
	if c.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("metadata timeout %s: must be at least 1s", c.Timeout))
	}
	return errors.Join(errs...)
}

// TTL is the lifetime of a registration refreshed every UpdateInterval.
func (c CommonSettings) TTL() time.Duration { return TTLFactor * c.UpdateInterval }

// Heartbeat registers reg and keeps it alive every UpdateInterval until ctx
// ends, then deregisters it (a clean exit removes the sidecar at once; a
// crash leaves it to expire after TTL). The first registration happens
// before Heartbeat returns, so a sidecar is resolvable as soon as it
// serves; its error is returned. Wait on done for the deregistration.
func Heartbeat(ctx context.Context, r Registry, reg Registration, log *slog.Logger) (done <-chan struct{}, err error) {
	if err := r.Register(ctx, reg); err != nil {
		return nil, fmt.Errorf("register %s at %s: %w", reg.AppID, reg.Address, err)
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With(slog.String("app", reg.AppID), slog.String("address", reg.Address))
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		t := time.NewTicker(r.UpdateInterval())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := r.Deregister(dctx, reg); err != nil {
					log.Warn("name resolution: deregistration failed; the entry expires on its own", slog.Any("error", err))
				}
				cancel()
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(ctx, r.UpdateInterval())
				err := r.Register(rctx, reg)
				cancel()
				if err != nil && ctx.Err() == nil {
					log.Warn("name resolution: heartbeat failed", slog.Any("error", err))
				}
			}
		}
	}()
	return ch, nil
}

// ErrNotFound is what Pick wraps when an app id has no live sidecar. Its
// text is daprd's, so callers see the same message as under Dapr.
var ErrNotFound = errors.New("couldn't find service")

// DefaultCacheFor is how long a Picker reuses a lookup's answer: a
// sidecar that starts gets calls within it, and every call saves a query
// to the registry, which was a third of a calling sidecar's CPU.
const DefaultCacheFor = time.Second

// Picker resolves app ids to live sidecars, round robin per app id. It
// reuses each answer of the registry for a while; a sidecar that exits
// cleanly is dropped at once all the same, because a caller that finds
// it gone tells the Picker (Forget) and picks again.
type Picker struct {
	reg      Registry
	cacheFor time.Duration
	mu       sync.RWMutex
	cache    map[string]answer // namespace/appID
	counters sync.Map          // namespace/appID -> *atomic.Uint64
}

type answer struct {
	regs  []Registration
	until time.Time
}

// NewPicker returns a Picker over r that reuses answers for cacheFor; 0
// looks up on every pick.
func NewPicker(r Registry, cacheFor time.Duration) *Picker {
	return &Picker{reg: r, cacheFor: cacheFor, cache: map[string]answer{}}
}

// Pick returns one live sidecar of appID in namespace, the next in turn.
func (p *Picker) Pick(ctx context.Context, namespace, appID string) (Registration, error) {
	key := namespace + "/" + appID
	regs, err := p.lookup(ctx, key, namespace, appID)
	if err != nil {
		return Registration{}, fmt.Errorf("resolve %s: %w", appID, err)
	}
	if len(regs) == 0 {
		return Registration{}, fmt.Errorf("%w: %s", ErrNotFound, appID)
	}
	c, _ := p.counters.LoadOrStore(key, new(atomic.Uint64))
	n := c.(*atomic.Uint64).Add(1) - 1
	return regs[n%uint64(len(regs))], nil
}

// lookup answers from the cache while it is fresh. An app with no live
// sidecar is not remembered: one that starts is found at its first call.
func (p *Picker) lookup(ctx context.Context, key, namespace, appID string) ([]Registration, error) {
	now := time.Now()
	p.mu.RLock()
	a, ok := p.cache[key]
	p.mu.RUnlock()
	if ok && now.Before(a.until) {
		return a.regs, nil
	}
	regs, err := p.reg.Lookup(ctx, namespace, appID)
	if err != nil || p.cacheFor <= 0 {
		return regs, err
	}
	p.mu.Lock()
	if len(regs) == 0 {
		delete(p.cache, key)
	} else {
		p.cache[key] = answer{regs: regs, until: now.Add(p.cacheFor)}
	}
	p.mu.Unlock()
	return regs, nil
}

// Forget drops the remembered answer for appID when it lists address, a
// sidecar the caller found gone (its connection refused), so the next
// pick asks the registry again.
func (p *Picker) Forget(namespace, appID, address string) {
	key := namespace + "/" + appID
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.cache[key].regs {
		if r.Address == address {
			delete(p.cache, key)
			return
		}
	}
}

// CheckTableName accepts SQL identifiers made of letters, digits and
// underscores, optionally schema-qualified, since table names are spliced
// into statements.
func CheckTableName(key, name string) error {
	parts := strings.Split(name, ".")
	if name == "" || len(parts) > 2 {
		return fmt.Errorf("metadata %s %q: not a table name", key, name)
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 || (p[0] >= '0' && p[0] <= '9') {
			return fmt.Errorf("metadata %s %q: not a table name", key, name)
		}
		for _, c := range p {
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("metadata %s %q: only letters, digits and underscores are allowed", key, name)
			}
		}
	}
	return nil
}

// DefaultTableName is the table the SQL registries create. It differs
// from daprd's "hosts" because the entries (internal listener addresses
// speaking cove's sidecar protocol) mean something else.
const DefaultTableName = "cove_sidecars"

// Rows is what ScanRegistrations reads: database/sql's and pgx's rows
// both fit.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanRegistrations reads (instance id, address) rows of appID in
// namespace, as the SQL registries select them.
func ScanRegistrations(rows Rows, namespace, appID string) ([]Registration, error) {
	var out []Registration
	for rows.Next() {
		reg := Registration{Namespace: namespace, AppID: appID}
		if err := rows.Scan(&reg.InstanceID, &reg.Address); err != nil {
			return nil, err
		}
		out = append(out, reg)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Sweeper runs a registry's deletion of expired rows, which lookups
// already ignore, so the table does not grow with every crashed sidecar.
type Sweeper struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartSweeper calls sweep every interval, with a context ending after
// timeout, until Stop. A failed sweep is retried at the next interval.
func StartSweeper(every, timeout time.Duration, sweep func(context.Context)) *Sweeper {
	s := &Sweeper{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				sweep(ctx)
				cancel()
			}
		}
	}()
	return s
}

// Stop ends the loop and waits for a sweep in progress; a nil Sweeper (no
// cleanup configured) and repeated calls are fine.
func (s *Sweeper) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
