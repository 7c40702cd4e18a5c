package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/cove-env/cove/internal/blocks/actors"
)

// ActorStreamHost puts a gRPC app that opened the actor callback stream in
// the placement: the sidecar hosts cfg's types with ch as the way to the
// app, until end is called. Its error is a gRPC status.
type ActorStreamHost func(cfg *actors.HostConfig, ch actors.AppChannel) (end func(), err error)

// errStreamGone fails the calls of a stream that ended, as daprd does.
var errStreamGone = errors.New("actor host disconnected before responding")

// SubscribeActorEventsAlpha1 is how a gRPC app hosts actors in Dapr 1.18:
// the app opens the stream and registers its types and settings (as an
// HTTP app answers /dapr/config); the sidecar then sends it the calls of
// its actors' methods, timers, reminders and deactivations, each with an
// id the app's answer carries. The app hosts them until the stream ends.
func (a *api) SubscribeActorEventsAlpha1(stream runtimev1pb.Dapr_SubscribeActorEventsAlpha1Server) error {
	if a.actors == nil {
		return noActors
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	init := first.GetInitialRequest()
	if init == nil {
		return status.Error(codes.InvalidArgument, "first message must be SubscribeActorEventsRequestInitialAlpha1")
	}
	cfg, err := appConfigOf(init).HostConfig()
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ch := &actorStream{stream: stream, pending: map[string]chan *runtimev1pb.SubscribeActorEventsRequestAlpha1{}, done: make(chan struct{})}
	end := func() {}
	if len(cfg.Types) > 0 {
		if a.hostActors == nil {
			return status.Error(codes.FailedPrecondition, "actor callback streaming requires a gRPC app channel")
		}
		if end, err = a.hostActors(cfg, ch); err != nil {
			return err
		}
	}
	// The app leaves the placement first, so no new call comes, then the
	// calls waiting for it fail.
	defer ch.close()
	defer end()
	err = ch.send(&runtimev1pb.SubscribeActorEventsResponseAlpha1{
		ResponseType: &runtimev1pb.SubscribeActorEventsResponseAlpha1_InitialResponse{
			InitialResponse: &runtimev1pb.SubscribeActorEventsResponseInitialAlpha1{},
		},
	})
	if err != nil {
		return err
	}
	return a.untilStreamEnds(ch.receive)
}

// appConfigOf reads the stream's registration as an app's /dapr/config.
func appConfigOf(in *runtimev1pb.SubscribeActorEventsRequestInitialAlpha1) *actors.AppConfig {
	c := &actors.AppConfig{
		Entities:                in.GetEntities(),
		ActorIdleTimeout:        durationString(in.GetActorIdleTimeout()),
		DrainOngoingCallTimeout: durationString(in.GetDrainOngoingCallTimeout()),
		DrainRebalancedActors:   in.DrainRebalancedActors,
		Reentrancy:              reentrancyOf(in.GetReentrancy()),
	}
	for _, ec := range in.GetEntitiesConfig() {
		c.EntitiesConfig = append(c.EntitiesConfig, actors.EntityConfig{
			Entities:                ec.GetEntities(),
			ActorIdleTimeout:        durationString(ec.GetActorIdleTimeout()),
			DrainOngoingCallTimeout: durationString(ec.GetDrainOngoingCallTimeout()),
			DrainRebalancedActors:   ec.DrainRebalancedActors,
			Reentrancy:              reentrancyOf(ec.GetReentrancy()),
		})
	}
	return c
}

// durationString is a duration as /dapr/config writes it; unset or zero
// leaves Dapr's default.
func durationString(d *durationpb.Duration) string {
	if d == nil || d.AsDuration() == 0 {
		return ""
	}
	return d.AsDuration().String()
}

func reentrancyOf(r *runtimev1pb.ActorReentrancyConfig) *actors.Reentrancy {
	if r == nil {
		return nil
	}
	out := &actors.Reentrancy{Enabled: r.GetEnabled()}
	if r.MaxStackDepth != nil {
		n := int(r.GetMaxStackDepth())
		out.MaxStackDepth = &n
	}
	return out
}

// actorStream is the app's actor callback stream as the channel its host
// calls the app through.
type actorStream struct {
	stream runtimev1pb.Dapr_SubscribeActorEventsAlpha1Server
	sendMu sync.Mutex // one Send at a time, as gRPC requires
	seq    atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan *runtimev1pb.SubscribeActorEventsRequestAlpha1 // by request id
	done    chan struct{}                                                  // closed when the stream ends
	once    sync.Once
}

var _ actors.AppChannel = (*actorStream)(nil)

func (c *actorStream) close() { c.once.Do(func() { close(c.done) }) }

func (c *actorStream) send(m *runtimev1pb.SubscribeActorEventsResponseAlpha1) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(m)
}

// receive hands the app's answers to the calls waiting for them until the
// stream ends.
func (c *actorStream) receive() error {
	for {
		m, err := c.stream.Recv()
		if err != nil {
			return err
		}
		id, ok := answerID(m)
		if !ok {
			return status.Error(codes.InvalidArgument, "expected an answer to a request the sidecar sent")
		}
		c.mu.Lock()
		answer := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if answer != nil {
			answer <- m // buffered for one
		}
	}
}

func answerID(m *runtimev1pb.SubscribeActorEventsRequestAlpha1) (string, bool) {
	switch r := m.GetRequestType().(type) {
	case *runtimev1pb.SubscribeActorEventsRequestAlpha1_InvokeResponse:
		return r.InvokeResponse.GetId(), true
	case *runtimev1pb.SubscribeActorEventsRequestAlpha1_ReminderResponse:
		return r.ReminderResponse.GetId(), true
	case *runtimev1pb.SubscribeActorEventsRequestAlpha1_TimerResponse:
		return r.TimerResponse.GetId(), true
	case *runtimev1pb.SubscribeActorEventsRequestAlpha1_DeactivateResponse:
		return r.DeactivateResponse.GetId(), true
	case *runtimev1pb.SubscribeActorEventsRequestAlpha1_RequestFailed:
		return r.RequestFailed.GetId(), true
	}
	return "", false
}

// roundTrip sends the request build makes with a new id and waits for the
// app's answer to it.
func (c *actorStream) roundTrip(ctx context.Context, build func(id string) *runtimev1pb.SubscribeActorEventsResponseAlpha1) (*runtimev1pb.SubscribeActorEventsRequestAlpha1, error) {
	id := strconv.FormatUint(c.seq.Add(1), 10)
	answer := make(chan *runtimev1pb.SubscribeActorEventsRequestAlpha1, 1)
	c.mu.Lock()
	c.pending[id] = answer
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	select {
	case <-c.done:
		return nil, errStreamGone
	default:
	}
	if err := c.send(build(id)); err != nil {
		return nil, fmt.Errorf("the app's actor stream: %w", err)
	}
	select {
	case m := <-answer:
		return m, nil
	case <-c.done:
		return nil, errStreamGone
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Call delivers a method call, a timer or a reminder, and reads the
// answer as the HTTP callbacks would have given it.
func (c *actorStream) Call(ctx context.Context, req *actors.Request) (*actors.Response, error) {
	m, err := c.roundTrip(ctx, func(id string) *runtimev1pb.SubscribeActorEventsResponseAlpha1 {
		return callMessage(id, req)
	})
	if err != nil {
		return nil, err
	}
	if f := m.GetRequestFailed(); f != nil {
		code := http.StatusInternalServerError
		if codes.Code(f.GetCode()) == codes.NotFound {
			code = http.StatusNotFound
		}
		return &actors.Response{Status: code, Header: http.Header{}, Body: []byte(f.GetMessage())}, nil
	}
	res := &actors.Response{Status: http.StatusOK, Header: http.Header{}}
	if r := m.GetInvokeResponse(); r != nil {
		for k, v := range r.GetMetadata() {
			res.Header.Set(k, v)
		}
		if r.GetError() {
			res.Header.Set(actors.ErrorResponseHeader, "true")
		}
		res.Body = r.GetData()
		return res, nil
	}
	r := m.GetReminderResponse()
	if r == nil {
		r = m.GetTimerResponse()
	}
	if r == nil {
		return nil, fmt.Errorf("the app answered a call with %T", m.GetRequestType())
	}
	if r.GetCancel() {
		res.Header.Set(actors.ReminderCancelHeader, "true")
	}
	return res, nil
}

// callMessage is the stream's request for a call: the caller's headers as
// metadata; a timer's or a reminder's data as the JSON it was given,
// wrapped in bytes, as daprd sends it.
func callMessage(id string, req *actors.Request) *runtimev1pb.SubscribeActorEventsResponseAlpha1 {
	f := req.Fire
	if f == nil {
		md := make(map[string]string, len(req.Header))
		for k, v := range req.Header {
			if len(v) > 0 {
				md[k] = v[0]
			}
		}
		return &runtimev1pb.SubscribeActorEventsResponseAlpha1{
			ResponseType: &runtimev1pb.SubscribeActorEventsResponseAlpha1_InvokeRequest{
				InvokeRequest: &runtimev1pb.SubscribeActorEventsResponseInvokeRequestAlpha1{
					Id: id, ActorType: req.Type, ActorId: req.ID, Method: req.Method, Data: req.Body, Metadata: md,
				},
			},
		}
	}
	var data *anypb.Any
	if len(f.Data) > 0 {
		data, _ = anypb.New(wrapperspb.Bytes(f.Data))
	}
	if f.Timer {
		return &runtimev1pb.SubscribeActorEventsResponseAlpha1{
			ResponseType: &runtimev1pb.SubscribeActorEventsResponseAlpha1_TimerRequest{
				TimerRequest: &runtimev1pb.SubscribeActorEventsResponseTimerRequestAlpha1{
					Id: id, ActorType: req.Type, ActorId: req.ID, Name: f.Name, DueTime: f.DueTime, Period: f.Period,
					Callback: f.Callback, Data: data,
				},
			},
		}
	}
	return &runtimev1pb.SubscribeActorEventsResponseAlpha1{
		ResponseType: &runtimev1pb.SubscribeActorEventsResponseAlpha1_ReminderRequest{
			ReminderRequest: &runtimev1pb.SubscribeActorEventsResponseReminderRequestAlpha1{
				Id: id, ActorType: req.Type, ActorId: req.ID, Name: f.Name, DueTime: f.DueTime, Period: f.Period, Data: data,
			},
		},
	}
}

// Deactivate tells the app an actor is gone.
func (c *actorStream) Deactivate(ctx context.Context, typ, id string) (*actors.Response, error) {
	m, err := c.roundTrip(ctx, func(rid string) *runtimev1pb.SubscribeActorEventsResponseAlpha1 {
		return &runtimev1pb.SubscribeActorEventsResponseAlpha1{
			ResponseType: &runtimev1pb.SubscribeActorEventsResponseAlpha1_DeactivateRequest{
				DeactivateRequest: &runtimev1pb.SubscribeActorEventsResponseDeactivateRequestAlpha1{Id: rid, ActorType: typ, ActorId: id},
			},
		}
	})
	if err != nil {
		return nil, err
	}
	if f := m.GetRequestFailed(); f != nil {
		return &actors.Response{Status: http.StatusInternalServerError, Body: []byte(f.GetMessage())}, nil
	}
	return &actors.Response{Status: http.StatusOK}, nil
}
