package actors

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/daprerr"
)

// TimerRequest creates a timer of an actor.
type TimerRequest struct {
	Type, ID, Name string
	// DueTime, Period and TTL as Dapr takes them (see newSchedule).
	DueTime, Period, TTL string
	Callback             string
	// Data is JSON, passed to the app as it came.
	Data json.RawMessage
}

// timer is one of an activation's timers; it ends with the activation.
type timer struct {
	req  TimerRequest
	s    schedule
	stop chan struct{}
	once sync.Once
}

func (t *timer) end() { t.once.Do(func() { close(t.stop) }) }

// CreateTimer starts (or replaces) a timer of an actor living on the
// calling sidecar's host. A timer lives in memory, as long as the
// actor's activation.
func (r *Runtime) CreateTimer(ctx context.Context, self *Host, req TimerRequest) error {
	if req.Name == "" {
		return daprerr.New(daprerr.Malformed, "a timer needs a name")
	}
	if len(req.Data) > 0 && !json.Valid(req.Data) {
		return daprerr.New(daprerr.Malformed, "timer %s: data is not JSON", req.Name)
	}
	s, err := newSchedule(req.DueTime, req.Period, req.TTL, time.Now())
	if err != nil {
		return daprerr.New(daprerr.Malformed, "timer %s: %v", req.Name, err)
	}
	if !r.p.local(self, req.Type, req.ID) {
		return daprerr.New(daprerr.ActorInstanceMissing, "actor instance is missing")
	}
	a := r.p.activation(req.Type, req.ID)
	a.setHostIfNone(r.p, self)
	t := &timer{req: req, s: s, stop: make(chan struct{})}
	a.tmu.Lock()
	if a.timers == nil {
		a.timers = map[string]*timer{}
	}
	if old := a.timers[req.Name]; old != nil {
		old.end()
	}
	a.timers[req.Name] = t
	a.tmu.Unlock()
	go r.p.runTimer(a, t)
	return nil
}

// DeleteTimer stops a timer; deleting one that does not exist is no error,
// as in daprd.
func (r *Runtime) DeleteTimer(_ context.Context, typ, id, name string) error {
	r.p.amu.Lock()
	a := r.p.actors[typ+"||"+id]
	r.p.amu.Unlock()
	if a != nil {
		a.tmu.Lock()
		if t := a.timers[name]; t != nil {
			t.end()
			delete(a.timers, name)
		}
		a.tmu.Unlock()
	}
	return nil
}

// stopTimers ends every timer of a deactivated actor.
func (a *actor) stopTimers() {
	a.tmu.Lock()
	defer a.tmu.Unlock()
	for name, t := range a.timers {
		t.end()
		delete(a.timers, name)
	}
}

// timerCallback is the body of a timer's call to the app.
type timerCallback struct {
	Callback string          `json:"callback"`
	Data     json.RawMessage `json:"data,omitempty"`
	DueTime  string          `json:"dueTime"`
	Period   string          `json:"period"`
}

func (p *Placement) runTimer(a *actor, t *timer) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-t.stop
		cancel()
	}()
	body, _ := json.Marshal(timerCallback{Callback: t.req.Callback, Data: t.req.Data, DueTime: t.req.DueTime, Period: t.req.Period})
	at := t.s.due
	tm := time.NewTimer(time.Until(at))
	defer tm.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tm.C:
		}
		if err := a.acquire(ctx); err != nil {
			return
		}
		if a.gone {
			a.release()
			return
		}
		h := a.getHost(p)
		req := &Request{Type: a.typ, ID: a.id, Method: "timer/" + t.req.Name, Body: body,
			Header: http.Header{"Content-Type": {"application/json"}},
			Fire:   &Fire{Timer: true, Name: t.req.Name, Callback: t.req.Callback, DueTime: t.req.DueTime, Period: t.req.Period, Data: t.req.Data}}
		cctx, end := a.begin(ctx)
		if _, err := h.invoke(cctx, req); err != nil && cctx.Err() == nil {
			h.log.Warn("actor timer failed", slog.String("actor", a.key), slog.String("timer", t.req.Name), slog.Any("error", err))
		}
		end()
		a.lastUsed = time.Now()
		a.release()
		next, ok := t.s.next(at)
		if !ok {
			a.tmu.Lock()
			if a.timers[t.req.Name] == t {
				delete(a.timers, t.req.Name)
			}
			a.tmu.Unlock()
			return
		}
		at = next
		tm.Reset(time.Until(at))
	}
}
