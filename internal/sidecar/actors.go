package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/daprerr"
)

// ActorsAPI is what the sidecar needs of the actor runtime; the
// signatures are those of actors.Runtime. self is this sidecar's host,
// nil while its app hosts no actors.
type ActorsAPI interface {
	Host(o actors.HostOptions) *actors.Host
	Invoke(ctx context.Context, req *actors.Request) (*actors.Response, error)
	GetState(ctx context.Context, self *actors.Host, typ, id, key string) ([]byte, error)
	Transact(ctx context.Context, self *actors.Host, typ, id string, ops []actors.StateOp) error
	CreateTimer(ctx context.Context, self *actors.Host, req actors.TimerRequest) error
	DeleteTimer(ctx context.Context, typ, id, name string) error
	CreateReminder(ctx context.Context, self *actors.Host, req actors.ReminderRequest) error
	GetReminder(ctx context.Context, self *actors.Host, typ, id, name string) (*actors.Reminder, error)
	DeleteReminder(ctx context.Context, self *actors.Host, typ, id, name string) error
	PlacementConnected() bool
}

// actorHosting is the sidecar's app as an actor host: asked for its
// /dapr/config once it is up, in the placement while it is healthy.
type actorHosting struct {
	cancel context.CancelFunc
	done   chan struct{}
	host   *actors.Host // set once hosting; read under Sidecar.actorMu
	// stream: a gRPC app's actor callback stream, which the app's health
	// does not end.
	stream bool
}

// actorHost is this sidecar's host, nil when its app hosts no actors.
func (s *Sidecar) actorHost() *actors.Host {
	s.actorMu.Lock()
	defer s.actorMu.Unlock()
	if s.hosting == nil {
		return nil
	}
	return s.hosting.host
}

// startActorHosting reads the app's actor types once it accepts
// connections and puts it in the placement. Actors need an HTTP app.
func (s *Sidecar) startActorHosting() {
	if s.cfg.Actors == nil || s.cfg.AppAddr == "" || s.cfg.AppProtocol != invoke.ProtocolHTTP {
		return
	}
	s.actorMu.Lock()
	defer s.actorMu.Unlock()
	if s.hosting != nil || s.actorsStopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &actorHosting{cancel: cancel, done: make(chan struct{})}
	s.hosting = h
	go func() {
		defer close(h.done)
		host, err := s.hostActors(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("the app's actors are not hosted", slog.Any("error", err))
			}
			return
		}
		if host == nil {
			return
		}
		s.actorMu.Lock()
		defer s.actorMu.Unlock()
		if ctx.Err() != nil {
			go host.Close(context.Background())
			return
		}
		h.host = host
	}()
}

// hostActorStream puts a gRPC app that opened the actor callback stream
// in the placement, with the stream as the way to it; a newer stream
// replaces an older one, as in daprd. end takes it out: its actors are
// deactivated in the background, since the stream is gone.
func (s *Sidecar) hostActorStream(cfg *actors.HostConfig, ch actors.AppChannel) (func(), error) {
	s.actorMu.Lock()
	defer s.actorMu.Unlock()
	if s.actorsStopped {
		return nil, status.Error(codes.Unavailable, "the sidecar is stopping")
	}
	if old := s.detachActorsLocked(); old != nil {
		go old.end(context.Background())
	}
	host := s.cfg.Actors.Host(actors.HostOptions{Name: s.cfg.HTTPListener.Addr().String(), Config: cfg, Channel: ch, Logger: s.log})
	h := &actorHosting{cancel: func() {}, done: make(chan struct{}), host: host, stream: true}
	close(h.done)
	s.hosting = h
	s.log.Info("hosting actors over the app's actor stream", slog.Any("types", typesOf(cfg)))
	return func() {
		s.actorMu.Lock()
		if s.hosting == h {
			s.hosting = nil
		}
		s.actorMu.Unlock()
		host.Leave()
		go host.Close(context.Background())
	}, nil
}

// configTimeout bounds the app's answer to GET /dapr/config.
var configTimeout = 10 * time.Second // a variable for tests

func (s *Sidecar) hostActors(ctx context.Context) (*actors.Host, error) {
	t := time.NewTicker(subscriptionPoll)
	defer t.Stop()
	for !s.AppReady(ctx) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	rt := invoke.NewTransport()
	client := &http.Client{Transport: rt}
	// An app that never answers must not hold its hosting forever.
	cctx, cancel := context.WithTimeout(ctx, configTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+s.cfg.AppAddr+"/dapr/config", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /dapr/config: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET /dapr/config: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// An app without actors need not serve it.
		return nil, nil
	}
	if !json.Valid(body) {
		// A catch-all route answering any path (a page, plain text) is not
		// an actor configuration.
		s.log.Debug("the app's /dapr/config is not JSON: it hosts no actors")
		return nil, nil
	}
	cfg, err := actors.ParseHostConfig(body)
	if err != nil {
		return nil, err
	}
	if len(cfg.Types) == 0 {
		return nil, nil
	}
	host := s.cfg.Actors.Host(actors.HostOptions{
		Name: s.cfg.HTTPListener.Addr().String(), Config: cfg, AppAddr: s.cfg.AppAddr, Transport: rt, Logger: s.log,
	})
	s.log.Info("hosting actors", slog.Any("types", typesOf(cfg)))
	return host, nil
}

func typesOf(cfg *actors.HostConfig) []string {
	out := make([]string, 0, len(cfg.Types))
	for t := range cfg.Types {
		out = append(out, t)
	}
	return out
}

// stopActorHosting takes the app out of the placement at once, so calls
// go to other replicas; then, within ctx, its actors are deactivated (the
// app told, while it still runs).
func (s *Sidecar) stopActorHosting(ctx context.Context) {
	if h := s.detachActors(); h != nil {
		h.end(ctx)
	}
}

// detachActors ends the hosting without waiting for its actors.
func (s *Sidecar) detachActors() *actorHosting {
	s.actorMu.Lock()
	defer s.actorMu.Unlock()
	return s.detachActorsLocked()
}

func (s *Sidecar) detachActorsLocked() *actorHosting {
	h := s.hosting
	s.hosting = nil
	if h != nil {
		h.cancel() // a host not set yet is closed by its goroutine
		if h.host != nil {
			h.host.Leave()
		}
	}
	return h
}

func (h *actorHosting) end(ctx context.Context) {
	<-h.done
	if h.host != nil {
		h.host.Close(ctx)
	}
}

// StopActors takes the app out of the actor placement for good; the host
// calls it before it stops the app, so its actors are deactivated while
// it can still be told. Close does it too.
func (s *Sidecar) StopActors(ctx context.Context) {
	s.actorMu.Lock()
	s.actorsStopped = true
	s.actorMu.Unlock()
	s.stopActorHosting(ctx)
}

// actorRoutes serves the actor API over the runtime.
func (s *Sidecar) actorRoutes(mux *http.ServeMux) {
	const actor = "/v1.0/actors/{type}/{id}"
	for _, v := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		mux.HandleFunc(v+" "+actor+"/method/{method}", s.handle(s.invokeActor))
	}
	mux.HandleFunc("GET "+actor+"/state/{key}", s.handle(s.getActorState))
	for _, v := range []string{http.MethodPost, http.MethodPut} {
		mux.HandleFunc(v+" "+actor+"/state", s.handle(s.transactActorState))
		mux.HandleFunc(v+" "+actor+"/timers/{name}", s.handle(s.createActorTimer))
	}
	mux.HandleFunc("DELETE "+actor+"/timers/{name}", s.handle(s.deleteActorTimer))
	for _, v := range []string{http.MethodPost, http.MethodPut} {
		mux.HandleFunc(v+" "+actor+"/reminders/{name}", s.handle(s.createActorReminder))
	}
	mux.HandleFunc("GET "+actor+"/reminders/{name}", s.handle(s.getActorReminder))
	mux.HandleFunc("DELETE "+actor+"/reminders/{name}", s.handle(s.deleteActorReminder))
}

// invokeActor answers /v1.0/actors/{type}/{id}/method/{method}: the app's
// answer as it wrote it, or daprd's error.
func (s *Sidecar) invokeActor(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return daprerr.New(daprerr.BadRequest, "failed to read body: %v", err)
	}
	res, err := s.cfg.Actors.Invoke(r.Context(), &actors.Request{
		// The request's own header: it is this handler's until it returns.
		Type: r.PathValue("type"), ID: r.PathValue("id"), Method: r.PathValue("method"), Header: r.Header, Body: body,
	})
	if err != nil {
		return err
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", actors.ErrorResponseHeader} {
		if v := res.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
	return nil
}

// getActorState answers GET …/state/{key}: the value, or 204 without one.
func (s *Sidecar) getActorState(w http.ResponseWriter, r *http.Request) error {
	data, err := s.cfg.Actors.GetState(r.Context(), s.actorHost(), r.PathValue("type"), r.PathValue("id"), r.PathValue("key"))
	if err != nil {
		return err
	}
	if len(data) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, data)
	return nil
}

// actorStateOp is one operation of POST …/state, as daprd reads it.
type actorStateOp struct {
	Operation string `json:"operation"`
	Request   struct {
		Key      string            `json:"key"`
		Value    json.RawMessage   `json:"value"`
		Metadata map[string]string `json:"metadata"`
	} `json:"request"`
}

// transactActorState answers POST …/state: upserts and deletes, at once.
func (s *Sidecar) transactActorState(w http.ResponseWriter, r *http.Request) error {
	var in []actorStateOp
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return daprerr.New(daprerr.Malformed, "failed to parse the actor state transaction: %v", err)
	}
	ops := make([]actors.StateOp, 0, len(in))
	for _, o := range in {
		op := actors.StateOp{Key: o.Request.Key, Metadata: o.Request.Metadata}
		switch o.Operation {
		case "upsert":
			op.Value = o.Request.Value
		case "delete":
			op.Delete = true
		default:
			return daprerr.New(daprerr.NotSupportedStateOperation, "operation type %s not supported", o.Operation)
		}
		ops = append(ops, op)
	}
	if err := s.cfg.Actors.Transact(r.Context(), s.actorHost(), r.PathValue("type"), r.PathValue("id"), ops); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// schedule is the body of a timer's or reminder's creation.
type schedule struct {
	DueTime  string          `json:"dueTime"`
	Period   string          `json:"period"`
	TTL      string          `json:"ttl"`
	Callback string          `json:"callback"`
	Data     json.RawMessage `json:"data"`
}

func readSchedule(r *http.Request, what string) (schedule, error) {
	var in schedule
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil && err != io.EOF {
		return in, daprerr.New(daprerr.Malformed, "failed to parse the %s: %v", what, err)
	}
	return in, nil
}

// createActorTimer answers POST …/timers/{name}.
func (s *Sidecar) createActorTimer(w http.ResponseWriter, r *http.Request) error {
	in, err := readSchedule(r, "timer")
	if err != nil {
		return err
	}
	err = s.cfg.Actors.CreateTimer(r.Context(), s.actorHost(), actors.TimerRequest{
		Type: r.PathValue("type"), ID: r.PathValue("id"), Name: r.PathValue("name"),
		DueTime: in.DueTime, Period: in.Period, TTL: in.TTL, Callback: in.Callback, Data: in.Data,
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteActorTimer answers DELETE …/timers/{name}.
func (s *Sidecar) deleteActorTimer(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Actors.DeleteTimer(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createActorReminder answers POST …/reminders/{name}.
func (s *Sidecar) createActorReminder(w http.ResponseWriter, r *http.Request) error {
	in, err := readSchedule(r, "reminder")
	if err != nil {
		return err
	}
	err = s.cfg.Actors.CreateReminder(r.Context(), s.actorHost(), actors.ReminderRequest{
		Type: r.PathValue("type"), ID: r.PathValue("id"), Name: r.PathValue("name"),
		DueTime: in.DueTime, Period: in.Period, TTL: in.TTL, Data: in.Data,
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getActorReminder answers GET …/reminders/{name} as daprd does.
func (s *Sidecar) getActorReminder(w http.ResponseWriter, r *http.Request) error {
	rem, err := s.cfg.Actors.GetReminder(r.Context(), s.actorHost(), r.PathValue("type"), r.PathValue("id"), r.PathValue("name"))
	if err != nil {
		return err
	}
	body, err := json.Marshal(struct {
		ActorID   string          `json:"actorID,omitempty"`
		ActorType string          `json:"actorType,omitempty"`
		Data      json.RawMessage `json:"data,omitempty"`
		DueTime   string          `json:"dueTime,omitempty"`
		Period    string          `json:"period,omitempty"`
		TTL       string          `json:"ttl,omitempty"`
	}{rem.ActorID, rem.ActorType, rem.Data, rem.DueTime, rem.Period, rem.TTL})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// deleteActorReminder answers DELETE …/reminders/{name}.
func (s *Sidecar) deleteActorReminder(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Actors.DeleteReminder(r.Context(), s.actorHost(), r.PathValue("type"), r.PathValue("id"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
