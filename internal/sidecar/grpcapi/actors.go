package grpcapi

import (
	"context"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/daprerr"
)

// ActorsAPI is what the gRPC API needs of the actor runtime; the
// signatures are those of actors.Runtime.
type ActorsAPI interface {
	Invoke(ctx context.Context, req *actors.Request) (*actors.Response, error)
	GetState(ctx context.Context, self *actors.Host, typ, id, key string) ([]byte, error)
	Transact(ctx context.Context, self *actors.Host, typ, id string, ops []actors.StateOp) error
	CreateTimer(ctx context.Context, self *actors.Host, req actors.TimerRequest) error
	DeleteTimer(ctx context.Context, typ, id, name string) error
	CreateReminder(ctx context.Context, self *actors.Host, req actors.ReminderRequest) error
	GetReminder(ctx context.Context, self *actors.Host, typ, id, name string) (*actors.Reminder, error)
	DeleteReminder(ctx context.Context, self *actors.Host, typ, id, name string) error
}

// noActors is the embedded server's answer, which absent turns into
// daprd's answer without a placement.
var noActors = status.Error(codes.Unimplemented, "actors")

// InvokeActor calls an actor's method; the metadata goes to the app as
// headers.
func (a *api) InvokeActor(ctx context.Context, in *runtimev1pb.InvokeActorRequest) (*runtimev1pb.InvokeActorResponse, error) {
	if a.actors == nil {
		return nil, noActors
	}
	req := &actors.Request{Type: in.GetActorType(), ID: in.GetActorId(), Method: in.GetMethod(), Body: in.GetData(), Header: map[string][]string{}}
	for k, v := range in.GetMetadata() {
		req.Header.Set(k, v)
	}
	if req.Method == "" {
		return nil, daprerr.New(daprerr.BadRequest, "invalid actor method: the method is empty")
	}
	res, err := a.actors.Invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.InvokeActorResponse{Data: res.Body}, nil
}

// GetActorState reads one key of an actor's state.
func (a *api) GetActorState(ctx context.Context, in *runtimev1pb.GetActorStateRequest) (*runtimev1pb.GetActorStateResponse, error) {
	if a.actors == nil {
		return nil, noActors
	}
	data, err := a.actors.GetState(ctx, a.actorHost(), in.GetActorType(), in.GetActorId(), in.GetKey())
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.GetActorStateResponse{Data: data}, nil
}

// ExecuteActorStateTransaction applies upserts and deletes at once.
func (a *api) ExecuteActorStateTransaction(ctx context.Context, in *runtimev1pb.ExecuteActorStateTransactionRequest) (*emptypb.Empty, error) {
	if a.actors == nil {
		return nil, noActors
	}
	ops := make([]actors.StateOp, 0, len(in.GetOperations()))
	for _, o := range in.GetOperations() {
		op := actors.StateOp{Key: o.GetKey(), Metadata: o.GetMetadata()}
		switch o.GetOperationType() {
		case "upsert":
			op.Value = o.GetValue().GetValue()
		case "delete":
			op.Delete = true
		default:
			return nil, daprerr.New(daprerr.NotSupportedStateOperation, "operation type %s not supported", o.GetOperationType())
		}
		ops = append(ops, op)
	}
	if err := a.actors.Transact(ctx, a.actorHost(), in.GetActorType(), in.GetActorId(), ops); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// RegisterActorTimer starts a timer of an actor this sidecar hosts.
func (a *api) RegisterActorTimer(ctx context.Context, in *runtimev1pb.RegisterActorTimerRequest) (*emptypb.Empty, error) {
	if a.actors == nil {
		return nil, noActors
	}
	err := a.actors.CreateTimer(ctx, a.actorHost(), actors.TimerRequest{
		Type: in.GetActorType(), ID: in.GetActorId(), Name: in.GetName(),
		DueTime: in.GetDueTime(), Period: in.GetPeriod(), TTL: in.GetTtl(), Callback: in.GetCallback(), Data: in.GetData(),
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// UnregisterActorTimer stops a timer.
func (a *api) UnregisterActorTimer(ctx context.Context, in *runtimev1pb.UnregisterActorTimerRequest) (*emptypb.Empty, error) {
	if a.actors == nil {
		return nil, noActors
	}
	if err := a.actors.DeleteTimer(ctx, in.GetActorType(), in.GetActorId(), in.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// RegisterActorReminder stores and starts a reminder.
func (a *api) RegisterActorReminder(ctx context.Context, in *runtimev1pb.RegisterActorReminderRequest) (*emptypb.Empty, error) {
	if a.actors == nil {
		return nil, noActors
	}
	err := a.actors.CreateReminder(ctx, a.actorHost(), actors.ReminderRequest{
		Type: in.GetActorType(), ID: in.GetActorId(), Name: in.GetName(),
		DueTime: in.GetDueTime(), Period: in.GetPeriod(), TTL: in.GetTtl(), Data: in.GetData(),
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// GetActorReminder returns a stored reminder.
func (a *api) GetActorReminder(ctx context.Context, in *runtimev1pb.GetActorReminderRequest) (*runtimev1pb.GetActorReminderResponse, error) {
	if a.actors == nil {
		return nil, noActors
	}
	r, err := a.actors.GetReminder(ctx, a.actorHost(), in.GetActorType(), in.GetActorId(), in.GetName())
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.GetActorReminderResponse{ActorType: r.ActorType, ActorId: r.ActorID}
	if r.DueTime != "" {
		out.DueTime = &r.DueTime
	}
	if r.Period != "" {
		out.Period = &r.Period
	}
	if r.TTL != "" {
		out.Ttl = &r.TTL
	}
	if len(r.Data) > 0 {
		if out.Data, err = anypb.New(wrapperspb.Bytes(r.Data)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UnregisterActorReminder stops and deletes a reminder.
func (a *api) UnregisterActorReminder(ctx context.Context, in *runtimev1pb.UnregisterActorReminderRequest) (*emptypb.Empty, error) {
	if a.actors == nil {
		return nil, noActors
	}
	if err := a.actors.DeleteReminder(ctx, a.actorHost(), in.GetActorType(), in.GetActorId(), in.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (a *api) actorHost() *actors.Host {
	if a.self == nil {
		return nil
	}
	return a.self()
}
