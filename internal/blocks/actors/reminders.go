package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/daprerr"
)

// ReminderRequest creates a reminder of an actor.
type ReminderRequest struct {
	Type, ID, Name string
	// DueTime, Period and TTL as Dapr takes them (see newSchedule).
	DueTime, Period, TTL string
	// Data is JSON, passed to the app as it came.
	Data json.RawMessage
}

// Reminder is a stored reminder, as GET answers it.
type Reminder struct {
	ActorID   string          `json:"actorID"`
	ActorType string          `json:"actorType"`
	Name      string          `json:"name"`
	Data      json.RawMessage `json:"data,omitempty"`
	DueTime   string          `json:"dueTime,omitempty"`
	Period    string          `json:"period,omitempty"`
	TTL       string          `json:"ttl,omitempty"`
	// When it fires next, and how often it has fired: what makes it go on
	// where it was after a restart.
	RegisteredTime time.Time `json:"registeredTime"`
	NextTime       time.Time `json:"nextTime"`
	Fired          int       `json:"fired,omitempty"`
	ExpirationTime time.Time `json:"expirationTime,omitzero"`
}

func (r *Reminder) key() string { return r.ActorType + "||" + r.ActorID + "||" + r.Name }

// ReminderCancelHeader, truthy in an app's answer to a reminder, deletes
// the reminder.
const ReminderCancelHeader = "X-Daprremindercancel"

// reminders are the reminders kept in one actor state store, under
// Dapr's key for a type's reminders, actors||<type>, and fired wherever
// their actor lives when they are due. The apps whose actor state store
// is the same instance share one set (Placement.reminders), so a reminder
// fires once however many apps host its type, as daprd's reminders, kept
// by type and id and not by app, do.
type reminders struct {
	store  Store // nil: the apps have no actor state store
	p      *Placement
	log    *slog.Logger
	refs   int  // the runtimes using the set; under Placement.rmu
	shared bool // kept in Placement.rems
	mu     sync.Mutex
	loaded map[string]bool                 // types read from the store
	byType map[string]map[string]*Reminder // type → key → reminder
	runs   map[string]context.CancelFunc   // key → its firing loop
	wg     sync.WaitGroup
	closed bool
}

func newReminders(p *Placement, store Store, log *slog.Logger) *reminders {
	return &reminders{store: store, p: p, log: log, loaded: map[string]bool{}, byType: map[string]map[string]*Reminder{}, runs: map[string]context.CancelFunc{}}
}

func storeKey(typ string) string { return "actors||" + typ }

// load reads a type's reminders once and starts them; the type's first
// host calls it.
func (rs *reminders) load(ctx context.Context, typ string) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.loaded[typ] || rs.closed || rs.store == nil {
		return nil
	}
	list, err := rs.read(ctx, typ)
	if err != nil {
		return err
	}
	rs.loaded[typ] = true
	m := map[string]*Reminder{}
	for _, r := range list {
		m[r.key()] = r
		rs.startLocked(r)
	}
	rs.byType[typ] = m
	return nil
}

// saveLocked writes a type's reminders; under mu.
func (rs *reminders) saveLocked(ctx context.Context, typ string) error {
	list := make([]*Reminder, 0, len(rs.byType[typ]))
	for _, r := range rs.byType[typ] {
		list = append(list, r)
	}
	data, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return rs.store.Set(ctx, &cstate.SetRequest{Key: storeKey(typ), Value: data})
}

// writeLocked stores a change of a type's reminders: put one, or delete
// the one of key del; under mu. In process the set holds every reminder
// and is written whole. With a placement service each sidecar holds those
// it loaded or created, so the stored list is read and changed, not
// replaced, lest one sidecar drop another's reminders.
func (rs *reminders) writeLocked(ctx context.Context, typ string, put *Reminder, del string) error {
	if rs.p.remote == nil {
		return rs.saveLocked(ctx, typ)
	}
	list, err := rs.read(ctx, typ)
	if err != nil {
		return err
	}
	out := make([]*Reminder, 0, len(list)+1)
	for _, r := range list {
		if r.key() != del && (put == nil || r.key() != put.key()) {
			out = append(out, r)
		}
	}
	if put != nil {
		out = append(out, put)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return rs.store.Set(ctx, &cstate.SetRequest{Key: storeKey(typ), Value: data})
}

// read returns a type's stored reminders.
func (rs *reminders) read(ctx context.Context, typ string) ([]*Reminder, error) {
	return readReminders(ctx, rs.store, typ)
}

// readReminders returns a type's reminders kept in an actor state store.
func readReminders(ctx context.Context, store Store, typ string) ([]*Reminder, error) {
	res, err := store.Get(ctx, &cstate.GetRequest{Key: storeKey(typ)})
	if err != nil {
		return nil, fmt.Errorf("reminders of actor type %s: %w", typ, err)
	}
	var list []*Reminder
	if res != nil && len(res.Data) > 0 {
		if err := json.Unmarshal(res.Data, &list); err != nil {
			return nil, fmt.Errorf("reminders of actor type %s: the stored value is not the list cove writes: %w", typ, err)
		}
	}
	return list, nil
}

// sync takes a loaded type's reminders from the store again, with a
// placement service, when a new table may have moved actors here: those
// created through other sidecars start, those deleted elsewhere stop, and
// those another sidecar fired go on from where it left them.
func (rs *reminders) sync(ctx context.Context, typ string) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.loaded[typ] || rs.closed || rs.store == nil {
		return nil
	}
	list, err := rs.read(ctx, typ)
	if err != nil {
		return err
	}
	m := rs.byType[typ]
	stored := map[string]bool{}
	for _, r := range list {
		stored[r.key()] = true
		if o := m[r.key()]; o == nil || !o.NextTime.Equal(r.NextTime) || o.Fired != r.Fired {
			m[r.key()] = r
			rs.startLocked(r)
		}
	}
	for k := range m {
		if !stored[k] {
			if stop := rs.runs[k]; stop != nil {
				stop()
				delete(rs.runs, k)
			}
			delete(m, k)
		}
	}
	return nil
}

// check is daprd's check before the reminder API: the calling sidecar's
// app hosts the type, and an actor state store keeps reminders.
func (rs *reminders) check(ctx context.Context, self *Host, typ string) error {
	if self == nil || !self.hosts(typ) {
		return daprerr.New(daprerr.ActorReminderNonHosted, "operations on actor reminders are only possible on hosted actor types")
	}
	if rs.store == nil {
		return daprerr.NoActorStateStore()
	}
	if err := rs.load(ctx, typ); err != nil {
		return daprerr.New(daprerr.ActorReminderGet, "error getting actor reminder: %v", err)
	}
	return nil
}

// newReminder checks a request as daprd does and makes the reminder,
// registered now.
func newReminder(req ReminderRequest) (*Reminder, error) {
	if req.Name == "" {
		return nil, daprerr.New(daprerr.Malformed, "a reminder needs a name")
	}
	if len(req.Data) > 0 && !json.Valid(req.Data) {
		return nil, daprerr.New(daprerr.Malformed, "reminder %s: data is not JSON", req.Name)
	}
	now := time.Now()
	s, err := newSchedule(req.DueTime, req.Period, req.TTL, now)
	if err != nil {
		return nil, daprerr.New(daprerr.Malformed, "reminder %s: %v", req.Name, err)
	}
	return &Reminder{ActorID: req.ID, ActorType: req.Type, Name: req.Name, Data: req.Data, DueTime: req.DueTime, Period: req.Period,
		TTL: req.TTL, RegisteredTime: now, NextTime: s.due, ExpirationTime: s.ttl}, nil
}

// Create stores a reminder (replacing one of its name) and starts it.
func (rs *reminders) Create(ctx context.Context, self *Host, req ReminderRequest) error {
	r, err := newReminder(req)
	if err != nil {
		return err
	}
	if err := rs.check(ctx, self, req.Type); err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	m := rs.byType[req.Type]
	old := m[r.key()]
	m[r.key()] = r
	if err := rs.writeLocked(ctx, req.Type, r, ""); err != nil {
		if old != nil {
			m[r.key()] = old
		} else {
			delete(m, r.key())
		}
		return daprerr.New(daprerr.ActorReminderCreate, "error creating actor reminder: %v", err)
	}
	rs.startLocked(r)
	return nil
}

// Get returns a stored reminder.
func (rs *reminders) Get(ctx context.Context, self *Host, typ, id, name string) (*Reminder, error) {
	if err := rs.check(ctx, self, typ); err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.byType[typ][typ+"||"+id+"||"+name]
	if r == nil {
		return nil, daprerr.New(daprerr.ActorReminderNotFound, "actor reminder not found: %s", name)
	}
	c := *r
	return &c, nil
}

// Delete stops and forgets a reminder; one that does not exist is no error.
func (rs *reminders) Delete(ctx context.Context, self *Host, typ, id, name string) error {
	if err := rs.check(ctx, self, typ); err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.deleteLocked(ctx, typ, typ+"||"+id+"||"+name, nil); err != nil {
		return daprerr.New(daprerr.ActorReminderDelete, "error deleting actor reminder: %v", err)
	}
	return nil
}

// deleteLocked forgets a reminder; with only set, only if it is still
// that one (not replaced meanwhile).
func (rs *reminders) deleteLocked(ctx context.Context, typ, key string, only *Reminder) error {
	r := rs.byType[typ][key]
	if r == nil || only != nil && r != only {
		return nil
	}
	if only == nil {
		if stop := rs.runs[key]; stop != nil {
			stop()
			delete(rs.runs, key)
		}
	}
	delete(rs.byType[typ], key)
	if err := rs.writeLocked(ctx, typ, nil, key); err != nil {
		rs.byType[typ][key] = r
		return err
	}
	return nil
}

// startLocked runs a reminder's firing loop, replacing the one of its key.
func (rs *reminders) startLocked(r *Reminder) {
	if stop := rs.runs[r.key()]; stop != nil {
		stop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.runs[r.key()] = cancel
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		rs.run(ctx, r)
	}()
}

// retryEvery is how soon a reminder due while no replica hosts its type,
// or whose call failed, is tried again.
const retryEvery = time.Second

func (rs *reminders) run(ctx context.Context, r *Reminder) {
	rs.mu.Lock()
	s, err := newSchedule(r.DueTime, r.Period, r.TTL, r.RegisteredTime)
	at, fired := r.NextTime, r.Fired
	rs.mu.Unlock()
	if err != nil {
		rs.log.Warn("actor reminder not started", slog.String("reminder", r.key()), slog.Any("error", err))
		return
	}
	s.fired = fired
	body, _ := json.Marshal(struct {
		Data    json.RawMessage `json:"data,omitempty"`
		DueTime string          `json:"dueTime"`
		Period  string          `json:"period"`
	}{r.Data, r.DueTime, r.Period})
	tm := time.NewTimer(time.Until(at))
	defer tm.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tm.C:
		}
		var res *Response
		err := rs.p.withTurn(ctx, r.ActorType, r.ActorID, nil, func(ctx context.Context, a *actor) error {
			var err error
			res, err = a.getHost(rs.p).invoke(ctx, &Request{Type: r.ActorType, ID: r.ActorID, Method: "remind/" + r.Name, Body: body,
				Header: http.Header{"Content-Type": {"application/json"}},
				Fire:   &Fire{Name: r.Name, DueTime: r.DueTime, Period: r.Period, Data: r.Data}})
			return err
		})
		if ctx.Err() != nil {
			return
		}
		var far *elsewhere
		if errors.As(err, &far) {
			// With a placement service, the sidecar the actor lives on
			// fires it; this one keeps its schedule without storing it.
			if next, ok := s.next(at); ok {
				at = next
				tm.Reset(time.Until(at))
				continue
			}
			return
		}
		var de *daprerr.Error
		if errors.As(err, &de) && de.Kind == daprerr.ActorNoAddress {
			// No replica hosts the type now: the reminder waits for one.
			tm.Reset(retryEvery)
			continue
		}
		if err != nil {
			rs.log.Warn("actor reminder failed", slog.String("reminder", r.key()), slog.Any("error", err))
		}
		next, ok := s.next(at)
		if res != nil && components.Truthy(res.Header.Get(ReminderCancelHeader)) {
			ok = false
		}
		rs.mu.Lock()
		if ctx.Err() != nil {
			rs.mu.Unlock()
			return
		}
		if !ok {
			delete(rs.runs, r.key())
			if err := rs.deleteLocked(context.Background(), r.ActorType, r.key(), r); err != nil {
				rs.log.Warn("a finished actor reminder stays stored", slog.String("reminder", r.key()), slog.Any("error", err))
			}
			rs.mu.Unlock()
			return
		}
		r.NextTime, r.Fired = next, s.fired
		if err := rs.writeLocked(context.Background(), r.ActorType, r, ""); err != nil {
			rs.log.Warn("actor reminder's progress not stored", slog.String("reminder", r.key()), slog.Any("error", err))
		}
		rs.mu.Unlock()
		at = next
		tm.Reset(time.Until(at))
	}
}

// close stops every firing loop; the reminders stay stored.
func (rs *reminders) close() {
	rs.mu.Lock()
	rs.closed = true
	for k, stop := range rs.runs {
		stop()
		delete(rs.runs, k)
	}
	rs.mu.Unlock()
	rs.wg.Wait()
}
