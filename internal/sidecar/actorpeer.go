package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	commonv1 "github.com/dapr/dapr/pkg/proto/common/v1"
	internalsv1 "github.com/dapr/dapr/pkg/proto/internals/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/daprerr"
)

// ActorHost runs actor calls other sidecars forward to this one
// (actors.Runtime.InvokeLocal).
type ActorHost interface {
	InvokeLocal(ctx context.Context, req *actors.Request) (*actors.Response, error)
}

// callActorPath is daprd's internal method for actor calls between
// sidecars, which cove sidecars use too, over their mTLS peer listener.
const callActorPath = "/dapr.proto.internals.v1.ServiceInvocation/CallActor"

// actorPeer serves CallActor on the peer listener.
type actorPeer struct {
	internalsv1.UnimplementedServiceInvocationServer
	host ActorHost
	log  *slog.Logger
}

func newActorPeerServer(host ActorHost, maxMsg int, log *slog.Logger) *grpc.Server {
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	internalsv1.RegisterServiceInvocationServer(gs, &actorPeer{host: host, log: log})
	return gs
}

// CallActor runs a forwarded call on the actor, which lives here.
func (a *actorPeer) CallActor(ctx context.Context, in *internalsv1.InternalInvokeRequest) (*internalsv1.InternalInvokeResponse, error) {
	req := &actors.Request{
		Type: in.GetActor().GetActorType(), ID: in.GetActor().GetActorId(), Method: in.GetMessage().GetMethod(),
		Header: http.Header{}, Body: in.GetMessage().GetData().GetValue(),
	}
	for k, v := range in.GetMetadata() {
		req.Header[http.CanonicalHeaderKey(k)] = v.GetValues()
	}
	if ct := in.GetMessage().GetContentType(); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := a.host.InvokeLocal(ctx, req)
	if err != nil {
		e := daprerr.From(err)
		// The code travels in the message, so the caller answers with it.
		return nil, status.Error(e.Code(), e.Kind.Code+": "+e.Message)
	}
	out := &internalsv1.InternalInvokeResponse{
		Status:  &internalsv1.Status{Code: int32(res.Status)},
		Headers: map[string]*internalsv1.ListStringValue{},
		Message: &commonv1.InvokeResponse{Data: &anypb.Any{Value: res.Body}, ContentType: res.Header.Get("Content-Type")},
	}
	for k, v := range res.Header {
		out.Headers[k] = &internalsv1.ListStringValue{Values: v}
	}
	return out, nil
}

// ActorForwarder calls actors on other cove sidecars: CallActor over
// gRPC on their peer listeners, with this sidecar's certificate.
type ActorForwarder struct {
	TLS *PeerTLS

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

var _ actors.Forwarder = (*ActorForwarder)(nil)

func (f *ActorForwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.conns[addr]; c != nil {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(f.TLS.ClientConfig())))
	if err != nil {
		return nil, err
	}
	if f.conns == nil {
		f.conns = map[string]*grpc.ClientConn{}
	}
	f.conns[addr] = c
	return c, nil
}

// CallActor forwards a call to the sidecar at addr.
func (f *ActorForwarder) CallActor(ctx context.Context, addr string, req *actors.Request) (*actors.Response, error) {
	c, err := f.conn(addr)
	if err != nil {
		return nil, daprerr.Wrap(daprerr.ActorInvokeMethod, err, "error invoke actor method: sidecar %s", addr)
	}
	in := &internalsv1.InternalInvokeRequest{
		Ver:      internalsv1.APIVersion_V1,
		Metadata: map[string]*internalsv1.ListStringValue{},
		Message: &commonv1.InvokeRequest{
			Method: req.Method, Data: &anypb.Any{Value: req.Body}, ContentType: req.Header.Get("Content-Type"),
			HttpExtension: &commonv1.HTTPExtension{Verb: commonv1.HTTPExtension_PUT},
		},
		Actor: &internalsv1.Actor{ActorType: req.Type, ActorId: req.ID},
	}
	for k, v := range req.Header {
		in.Metadata[k] = &internalsv1.ListStringValue{Values: v}
	}
	out, err := internalsv1.NewServiceInvocationClient(c).CallActor(ctx, in)
	if err != nil {
		st := status.Convert(err)
		code, msg, ok := strings.Cut(st.Message(), ": ")
		if !ok || !strings.HasPrefix(code, "ERR_") {
			msg = st.Message()
		}
		e := daprerr.New(daprerr.ActorInvokeMethod, "%s", msg)
		if st.Code() == codes.Unavailable {
			e = daprerr.New(daprerr.ActorInvokeMethod, "error invoke actor method: sidecar %s: %s", addr, msg)
		}
		return nil, e
	}
	res := &actors.Response{Status: int(out.GetStatus().GetCode()), Header: http.Header{}, Body: out.GetMessage().GetData().GetValue()}
	for k, v := range out.GetHeaders() {
		res.Header[http.CanonicalHeaderKey(k)] = v.GetValues()
	}
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	return res, nil
}

// Close closes the connections to other sidecars.
func (f *ActorForwarder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, c := range f.conns {
		errs = append(errs, c.Close())
	}
	f.conns = nil
	return errors.Join(errs...)
}
