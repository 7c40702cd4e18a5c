package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/daprerr"
)

// Request is one call of an actor method.
type Request struct {
	Type, ID, Method string
	// Header is passed on to the app; the caller's Content-Type among it.
	Header http.Header
	Body   []byte
	// Fire is set for a timer's or a reminder's call (Method timer/<name>
	// or remind/<name>, Body its JSON), for channels that carry them apart.
	Fire *Fire
}

// Fire is a timer or reminder firing, as a channel other than HTTP
// delivers it.
type Fire struct {
	Timer    bool // else a reminder
	Name     string
	Callback string // a timer's
	DueTime  string
	Period   string
	// Data is the JSON given when it was created.
	Data json.RawMessage
}

// AppChannel carries a host's calls to its app. Answers are as the HTTP
// callbacks give them: status 200, or 404 for a method the actor lacks,
// or another status for a failure; X-DaprErrorResponseHeader marks the
// actor's own error, X-DaprReminderCancel a reminder to delete.
type AppChannel interface {
	// Call delivers a method call, a timer or a reminder.
	Call(ctx context.Context, req *Request) (*Response, error)
	// Deactivate tells the app an actor is gone.
	Deactivate(ctx context.Context, typ, id string) (*Response, error)
}

// httpChannel is daprd's HTTP actor callbacks: PUT
// /actors/{type}/{id}/method/{method}, DELETE /actors/{type}/{id}.
type httpChannel struct {
	// rt sends each call as it is: an answer is the app's, a redirect
	// included, as invocation passes it on.
	rt   http.RoundTripper
	addr string // host:port of the app
}

func (c *httpChannel) Call(ctx context.Context, req *Request) (*Response, error) {
	path := "/actors/" + url.PathEscape(req.Type) + "/" + url.PathEscape(req.ID) + "/method/" + escapeMethod(req.Method)
	return c.do(ctx, http.MethodPut, path, req.Header, req.Body)
}

func (c *httpChannel) Deactivate(ctx context.Context, typ, id string) (*Response, error) {
	return c.do(ctx, http.MethodDelete, "/actors/"+url.PathEscape(typ)+"/"+url.PathEscape(id), nil, nil)
}

// Response is the app's answer to a call it took (status 200, or one it
// marked as the actor's own error with X-DaprErrorResponseHeader).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrorResponseHeader marks an app's answer as an error of the actor,
// which daprd passes to the caller as the app wrote it.
const ErrorResponseHeader = "X-Daprerrorresponseheader"

// Host is one sidecar's app as a host of actors: the types it serves and
// the way to its app. It is in the placement from Runtime.Host to Close.
type Host struct {
	name string
	// remote marks another sidecar's host (cove sidecar with a placement
	// service): its actors are called through it, and it has no cfg.
	remote bool
	appID  string
	cfg    *HostConfig
	p      *Placement
	ch     AppChannel
	log    *slog.Logger
	// policies give the timeout of calls to the app; nil: none.
	policies Policies

	// detach takes the host's reminder targets off the jobs scheduler.
	detach []func()

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// HostOptions describe a sidecar's app as an actor host.
type HostOptions struct {
	// Name is unique among the placement's hosts (the sidecar's address).
	Name string
	// Config is the app's /dapr/config.
	Config *HostConfig
	// AppAddr is host:port of an HTTP app; Transport calls it.
	AppAddr   string
	Transport http.RoundTripper
	// Channel, when set, carries the calls instead (a gRPC app's actor
	// callback stream).
	Channel AppChannel
	Logger  *slog.Logger
}

// hosts reports whether the host's app hosts actor type typ.
func (h *Host) hosts(typ string) bool {
	_, ok := h.cfg.Types[typ]
	return ok
}

// TypeCount is how many actors of a type are active on a host.
type TypeCount struct {
	Type  string
	Count int
}

// Active counts the host's active actors by type: every type it hosts,
// sorted, with zero for those it has none of.
func (h *Host) Active() []TypeCount {
	n := map[string]int{}
	for _, a := range h.p.activeOn(h) {
		n[a.typ]++
	}
	out := make([]TypeCount, 0, len(h.cfg.Types))
	for t := range h.cfg.Types {
		out = append(out, TypeCount{t, n[t]})
	}
	slices.SortFunc(out, func(a, b TypeCount) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// Leave takes the host out of the placement: calls go to the other hosts
// of its types from now on.
func (h *Host) Leave() { h.p.remove(h) }

// Close takes the host out of the placement, then deactivates the actors
// it has, all at once, each as drain lets it, and until ctx ends.
func (h *Host) Close(ctx context.Context) {
	// No reminder comes here once it is out; those in flight end first.
	for _, d := range h.detach {
		d()
	}
	h.p.remove(h)
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
	var wg sync.WaitGroup
	for _, a := range h.p.activeOn(h) {
		wg.Go(func() { h.drain(ctx, a) })
	}
	wg.Wait()
}

// errMoved ends the call in flight of an actor that moves to another host.
var errMoved = errors.New("the actor moved to another replica: the placement table changed")

// drain deactivates an actor that is leaving this host, as daprd treats
// the calls in flight of rebalanced actors: with drainRebalancedActors,
// once its call in flight is done, waited for at most the type's
// drainOngoingCallTimeout and then cancelled; without, at once, its call
// in flight cancelled. It gives up when ctx ends.
func (h *Host) drain(ctx context.Context, a *actor) {
	tc := h.cfg.Types[a.typ]
	if !tc.DrainRebalanced {
		a.cancelCall(errMoved)
	}
	dctx, cancel := context.WithTimeout(ctx, tc.DrainTimeout)
	err := a.acquire(dctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		h.log.Warn("an actor's call in flight outlived drainOngoingCallTimeout: cancelled", slog.String("actor", a.key))
		a.cancelCall(errMoved)
		// A cancelled call gives the turn back at once.
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = a.acquire(qctx)
		cancel()
	}
	if err != nil {
		h.log.Warn("actor not deactivated: a call of it is still running", slog.String("actor", a.key))
		return
	}
	defer a.release()
	if a.gone || a.getHost(h.p) != h {
		return
	}
	if owner, err := h.p.Lookup(a.typ, a.id); err == nil && owner == h {
		return // the table moved it back meanwhile
	}
	h.deactivate(a)
}

// scan deactivates the host's actors idle for their type's timeout.
func (h *Host) scan() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			for _, a := range h.p.activeOn(h) {
				if !a.tryAcquire() {
					continue // busy, so not idle
				}
				if !a.gone && a.getHost(h.p) == h && now.Sub(a.lastUsed) >= h.cfg.Types[a.typ].IdleTimeout {
					h.deactivate(a)
				}
				a.release()
			}
		}
	}
}

// deactivate tells the app an actor is gone and forgets it; the caller
// holds its turn.
func (h *Host) deactivate(a *actor) {
	a.stopTimers()
	h.p.forget(a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.ch.Deactivate(ctx, a.typ, a.id)
	switch {
	case err != nil:
		h.log.Warn("actor deactivation failed", slog.String("actor", a.key), slog.Any("error", err))
	case res.Status != http.StatusOK:
		h.log.Warn("actor deactivation failed", slog.String("actor", a.key), slog.Int("status", res.Status), slog.String("body", string(res.Body)))
	}
}

// invoke calls an actor's method on the app; the caller holds its turn.
func (h *Host) invoke(ctx context.Context, req *Request) (*Response, error) {
	if h.policies != nil {
		if d := h.policies.Timeout(req.Type); d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	res, err := h.ch.Call(ctx, req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			err = cause // the actor moved under the call
		}
		return nil, daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: %v", err)
	}
	if res.Header.Get(ErrorResponseHeader) != "" {
		return res, nil
	}
	switch res.Status {
	case http.StatusOK:
		return res, nil
	case http.StatusNotFound:
		return nil, notFound{daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: actor method not found: %s", req.Method)}
	}
	return nil, daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: error from actor service: (%d) %s", res.Status, res.Body)
}

// escapeMethod escapes each segment of a method name, keeping its slashes
// (timer/<name>, remind/<name>).
func escapeMethod(m string) string {
	var b bytes.Buffer
	for i, seg := range bytes.Split([]byte(m), []byte("/")) {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(string(seg)))
	}
	return b.String()
}

// hopHeaders are not passed on to the app.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Dapr-Api-Token"}

func (c *httpChannel) do(ctx context.Context, verb, path string, header http.Header, body []byte) (*Response, error) {
	// Built here rather than by http.NewRequest: path is escaped already,
	// and a call is too frequent to parse its URL back.
	r := (&http.Request{
		Method:        verb,
		URL:           &url.URL{Scheme: "http", Host: c.addr, Opaque: path},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        make(http.Header, len(header)+1),
		Host:          c.addr,
		ContentLength: int64(len(body)),
		Body:          http.NoBody,
	}).WithContext(ctx)
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	for k, v := range header {
		r.Header[k] = v
	}
	for _, k := range hopHeaders {
		delete(r.Header, k)
	}
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		return nil, fmt.Errorf("the app: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("the app's answer: %w", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// actor is one activation: it exists from its first call until it is
// deactivated, and holds the actor's turn, environment-wide.
type actor struct {
	key     string // type||id
	typ, id string
	turn    chan struct{} // a token: held by the call running
	// Under the turn:
	host     *Host
	lastUsed time.Time
	gone     bool // deactivated; a caller holding a stale pointer looks again

	tmu    sync.Mutex // guards timers: created from within the actor's turn
	timers map[string]*timer

	cmu    sync.Mutex              // guards cancel
	cancel context.CancelCauseFunc // ends the call holding the turn

	rmu   sync.Mutex // guards rid and depth
	rid   string     // the reentrancy id of the call chain holding the turn
	depth int        // its calls running
}

// begin gives the call taking the turn a context that cancelCall ends;
// end is called once the call is done.
func (a *actor) begin(ctx context.Context) (context.Context, func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	a.cmu.Lock()
	a.cancel = cancel
	a.cmu.Unlock()
	return cctx, func() {
		a.cmu.Lock()
		a.cancel = nil
		a.cmu.Unlock()
		cancel(nil)
	}
}

// cancelCall ends the call holding the actor's turn, if any.
func (a *actor) cancelCall(cause error) {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if a.cancel != nil {
		a.cancel(cause)
	}
}

// hold records the reentrancy id of the chain holding the turn ("" when
// it is done).
func (a *actor) hold(rid string) {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	a.rid, a.depth = rid, 0
	if rid != "" {
		a.depth = 1
	}
}

// reenter lets a call of the chain holding the turn in, up to max calls
// deep; it reports false for a call of any other chain.
func (a *actor) reenter(rid string, max int) (bool, error) {
	if rid == "" {
		return false, nil
	}
	a.rmu.Lock()
	defer a.rmu.Unlock()
	if a.rid != rid {
		return false, nil
	}
	if a.depth >= max {
		return false, daprerr.New(daprerr.ActorMaxStackDepth, "maximum stack depth exceeded")
	}
	a.depth++
	return true, nil
}

func (a *actor) leave() {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	a.depth--
}

// getHost is the host the actor is activated on, nil before its first
// call.
func (a *actor) getHost(p *Placement) *Host {
	p.amu.Lock()
	defer p.amu.Unlock()
	return a.host
}

// setHostIfNone places a new activation on h.
func (a *actor) setHostIfNone(p *Placement, h *Host) {
	p.amu.Lock()
	defer p.amu.Unlock()
	if a.host == nil {
		a.host = h
	}
}

func (a *actor) acquire(ctx context.Context) error {
	select {
	case a.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *actor) tryAcquire() bool {
	select {
	case a.turn <- struct{}{}:
		return true
	default:
		return false
	}
}

func (a *actor) release() { <-a.turn }
