// Package actors is the actor runtime of cove's sidecars: which app
// replica hosts which actor (Placement, one per environment), turn-based
// calls to the app (one at a time per actor, environment-wide), idle
// deactivation, timers, reminders as jobs of the jobs scheduler, and
// actor state in the store marked actorStateStore with Dapr's key layout.
// The sidecar's front ends translate the HTTP and gRPC APIs to it.
package actors

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/daprerr"
)

// Runtime is an app's access to the actor runtime, shared by its
// sidecars: calls to any actor of the placement, the app's actor state,
// and its reminders.
type Runtime struct {
	appID string
	p     *Placement
	state *stateStore // nil without an actor state store
	rems  *scheduledReminders
	log   *slog.Logger

	policies Policies // nil: none
}

// Options are a runtime's parts.
type Options struct {
	// Scheduler keeps the reminders as jobs, as daprd's scheduler does;
	// required. Those an earlier cove kept in Store move there.
	Scheduler *jobs.Scheduler
	// Namespace is the reminders' namespace in Scheduler; "" is "default".
	Namespace string
	// Store is the app's actor state store; nil when no state store in its
	// scope says actorStateStore "true".
	Store Store
	// Policies are the app's resiliency for actor calls; nil: none.
	Policies Policies
	Logger   *slog.Logger
}

// New returns app appID's runtime over placement p.
func New(appID string, p *Placement, o Options) (*Runtime, error) {
	if o.Scheduler == nil {
		return nil, errors.New("actors: a jobs scheduler is required: reminders are its jobs")
	}
	log, store := o.Logger, o.Store
	if log == nil {
		log = slog.Default()
	}
	r := &Runtime{appID: appID, p: p, log: log, policies: o.Policies,
		rems: &scheduledReminders{s: o.Scheduler, ns: o.Namespace, store: store, log: log, migrated: map[string]bool{}}}
	if store != nil {
		r.state = &stateStore{store}
	}
	return r, nil
}

// PlacementConnected reports whether the runtime's placement is in
// service (see Placement.Connected).
func (r *Runtime) PlacementConnected() bool { return r.p.Connected() }

// CreateReminder schedules a reminder of an actor whose type the calling
// sidecar's app hosts: it fires wherever the actor lives.
func (r *Runtime) CreateReminder(ctx context.Context, self *Host, req ReminderRequest) error {
	return r.rems.Create(ctx, self, req)
}

// GetReminder returns a reminder as it was created.
func (r *Runtime) GetReminder(ctx context.Context, self *Host, typ, id, name string) (*Reminder, error) {
	return r.rems.Get(ctx, self, typ, id, name)
}

// DeleteReminder deletes a reminder.
func (r *Runtime) DeleteReminder(ctx context.Context, self *Host, typ, id, name string) error {
	return r.rems.Delete(ctx, self, typ, id, name)
}

// Host adds a sidecar's app to the placement as the host of the types its
// /dapr/config names; Close takes it out.
func (r *Runtime) Host(o HostOptions) *Host {
	log := o.Logger
	if log == nil {
		log = r.log
	}
	ch := o.Channel
	if ch == nil {
		rt := o.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		ch = &httpChannel{rt: rt, addr: o.AppAddr}
	}
	h := &Host{name: o.Name, cfg: o.Config, p: r.p, ch: ch, log: log,
		policies: r.policies, stop: make(chan struct{}), done: make(chan struct{})}
	go h.scan()
	r.p.add(h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for typ := range o.Config.Types {
		// The host takes the type's reminder jobs, once those an earlier
		// cove kept in the state store are moved to the scheduler.
		if err := r.rems.migrate(ctx, typ); err != nil {
			log.Error("actor reminders kept in the state store not moved to the scheduler", slog.String("type", typ), slog.Any("error", err))
		}
		h.detach = append(h.detach, r.rems.of(typ).Attach(&reminderTarget{rt: r}))
	}
	return h
}

// Invoke calls an actor's method on the replica that owns it, once the
// actor's call before it is done; with reentrancy, a call in the chain of
// the one running (its Dapr-Reentrancy-Id) runs at once.
func (r *Runtime) Invoke(ctx context.Context, req *Request) (*Response, error) {
	res, err := r.invokeHere(ctx, req)
	var far *elsewhere
	if errors.As(err, &far) {
		return r.p.forward(ctx, far.to, req)
	}
	return res, err
}

// InvokeLocal runs a call another sidecar forwarded (cove sidecar with a
// placement service): the actor must live on this one.
func (r *Runtime) InvokeLocal(ctx context.Context, req *Request) (*Response, error) {
	if f := fireOf(req); f != nil {
		req.Fire = f
		req.Header.Del(reminderMark)
	}
	res, err := r.invokeHere(ctx, req)
	var far *elsewhere
	if errors.As(err, &far) {
		return nil, daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: actor %s||%s is hosted by %s, not by this sidecar", req.Type, req.ID, far.to.name)
	}
	return res, err
}

// invokeHere runs a call on the actor's activation in this process, or
// says which other sidecar hosts it (*elsewhere).
func (r *Runtime) invokeHere(ctx context.Context, req *Request) (*Response, error) {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if r.policies != nil {
		if pols := r.policies.Call(req.Type, req.ID); len(pols) > 0 {
			return r.invokeWithPolicies(ctx, req, pols)
		}
	}
	return r.invokeOnce(ctx, req)
}

// invokeOnce is one attempt of a call: waiting for the actor's turn, then
// calling its host's app.
func (r *Runtime) invokeOnce(ctx context.Context, req *Request) (*Response, error) {
	var res *Response
	err := r.p.withTurn(ctx, req.Type, req.ID, req.Header, func(ctx context.Context, a *actor) error {
		var err error
		res, err = a.getHost(r.p).invoke(ctx, req)
		return err
	})
	return res, err
}

// ReentrancyHeader carries the id of a reentrant call chain.
const ReentrancyHeader = "Dapr-Reentrancy-Id"

// withTurn runs f holding the actor's turn, activated on the host that
// owns it now: an activation left on another host (the placement moved)
// is deactivated there first. header, the call's, gets the reentrancy id
// when the type is reentrant. f's context ends too when the actor moves
// away under it (see Host.drain).
func (p *Placement) withTurn(ctx context.Context, typ, id string, header http.Header, f func(context.Context, *actor) error) error {
	if err := p.waitTable(ctx); err != nil {
		return daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: %v", err)
	}
	for {
		owner, err := p.Lookup(typ, id)
		if err != nil {
			return err
		}
		if owner.remote {
			return &elsewhere{owner}
		}
		a := p.activation(typ, id)
		tc := owner.cfg.Types[typ]
		rid := ""
		if tc.Reentrancy {
			rid = header.Get(ReentrancyHeader)
			if entered, err := a.reenter(rid, tc.MaxStackDepth); err != nil {
				return err
			} else if entered {
				// The chain holding the turn called back into the actor.
				defer a.leave()
				return f(ctx, a)
			}
		}
		if err := a.acquire(ctx); err != nil {
			return daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: waiting for the actor's turn: %v", err)
		}
		if a.gone {
			a.release()
			continue
		}
		owner, err = p.Lookup(typ, id)
		if err != nil {
			if a.getHost(p) == nil {
				p.forget(a)
			}
			a.release()
			return err
		}
		if h := a.getHost(p); h != nil && h != owner {
			h.deactivate(a)
			a.release()
			continue
		}
		if owner.remote {
			p.forget(a)
			a.release()
			return &elsewhere{owner}
		}
		a.setHostIfNone(p, owner)
		if owner.cfg.Types[typ].Reentrancy {
			if rid == "" {
				rid = uuid.NewString()
			}
			header.Set(ReentrancyHeader, rid)
			a.hold(rid)
		}
		cctx, end := a.begin(ctx)
		err = f(cctx, a)
		end()
		a.hold("")
		a.lastUsed = time.Now()
		a.release()
		return err
	}
}

// activation returns the actor's activation, a new one if it has none.
func (p *Placement) activation(typ, id string) *actor {
	key := typ + "||" + id
	p.amu.Lock()
	defer p.amu.Unlock()
	a := p.actors[key]
	if a == nil {
		a = &actor{key: key, typ: typ, id: id, turn: make(chan struct{}, 1)}
		p.actors[key] = a
	}
	return a
}

// forget drops an activation; the caller holds its turn.
func (p *Placement) forget(a *actor) {
	a.gone = true
	p.amu.Lock()
	defer p.amu.Unlock()
	if p.actors[a.key] == a {
		delete(p.actors, a.key)
	}
}

// activeOn is a snapshot of the activations a host had; callers check
// each again under its turn.
func (p *Placement) activeOn(h *Host) []*actor {
	p.amu.Lock()
	defer p.amu.Unlock()
	var out []*actor
	for _, a := range p.actors {
		if a.host == h {
			out = append(out, a)
		}
	}
	return out
}

// local reports whether actor typ/id lives on host self: activated there,
// or placed there.
func (p *Placement) local(self *Host, typ, id string) bool {
	if self == nil {
		return false
	}
	p.amu.Lock()
	a := p.actors[typ+"||"+id]
	p.amu.Unlock()
	if a != nil && a.host == self {
		return true
	}
	owner, err := p.Lookup(typ, id)
	return err == nil && owner == self
}
