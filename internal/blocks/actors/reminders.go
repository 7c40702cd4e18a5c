package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

// Reminder is a reminder as created, as GET answers it and as its job
// keeps it. An earlier cove kept reminders in the actor state store in
// this form, with their progress (see readReminders).
type Reminder struct {
	ActorID   string          `json:"actorID"`
	ActorType string          `json:"actorType"`
	Name      string          `json:"name"`
	Data      json.RawMessage `json:"data,omitempty"`
	DueTime   string          `json:"dueTime,omitempty"`
	Period    string          `json:"period,omitempty"`
	TTL       string          `json:"ttl,omitempty"`
	// RegisteredTime is when it was created, what its schedule counts
	// from. NextTime, Fired and ExpirationTime are the progress an earlier
	// cove stored with it: when it fires next, how often it has fired; a
	// job keeps its own.
	RegisteredTime time.Time `json:"registeredTime"`
	NextTime       time.Time `json:"nextTime"`
	Fired          int       `json:"fired,omitempty"`
	ExpirationTime time.Time `json:"expirationTime,omitzero"`
}

func (r *Reminder) key() string { return r.ActorType + "||" + r.ActorID + "||" + r.Name }

// ReminderCancelHeader, truthy in an app's answer to a reminder, deletes
// the reminder.
const ReminderCancelHeader = "X-Daprremindercancel"

// storeKey is the key an earlier cove kept a type's reminders under in
// the actor state store, Dapr's actors||<type>.
func storeKey(typ string) string { return "actors||" + typ }

// readReminders returns a type's reminders an earlier cove kept in an
// actor state store: the JSON list of Reminder under storeKey.
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
		TTL: req.TTL, RegisteredTime: now, NextTime: s.due}, nil
}
