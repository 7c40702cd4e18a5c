package grpcapi

import (
	"context"
	"crypto/subtle"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/tracecontext"
)

// callGate runs before every call, proxied ones included: it checks the
// API token and gives the call a trace context, which the call's incoming
// metadata then carries to the app and which the caller gets back in the
// response header, as daprd does.
type callGate struct {
	token    string
	sampling float64
}

const mdTraceParent, mdTraceState = "traceparent", "tracestate"

func (g callGate) admit(ctx context.Context) (context.Context, metadata.MD, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if g.token != "" {
		got := md.Get(mdAPITokenName)
		if len(got) == 0 {
			return ctx, nil, status.Error(codes.Unauthenticated, "missing api token in request metadata")
		}
		if subtle.ConstantTimeCompare([]byte(got[0]), []byte(g.token)) != 1 {
			return ctx, nil, status.Error(codes.Unauthenticated, "authentication error: api token mismatch")
		}
	}
	var in string
	if v := md.Get(mdTraceParent); len(v) > 0 {
		in = v[0]
	}
	tp, fresh := tracecontext.Continue(in, g.sampling)
	// FromIncomingContext returned a copy: it is ours to change.
	if md == nil {
		md = metadata.MD{}
	}
	if fresh {
		delete(md, mdTraceState)
	}
	v := tp.String()
	md[mdTraceParent] = []string{v}
	return metadata.NewIncomingContext(ctx, md), metadata.MD{mdTraceParent: {v}}, nil
}

func (g callGate) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, header, err := g.admit(ctx)
	if err != nil {
		return nil, err
	}
	_ = grpc.SetHeader(ctx, header)
	return handler(ctx, req)
}

func (g callGate) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, header, err := g.admit(ss.Context())
	if err != nil {
		return err
	}
	_ = ss.SetHeader(header)
	return handler(srv, &gatedStream{ServerStream: ss, ctx: ctx})
}

// gatedStream is a stream whose context carries the admitted metadata.
type gatedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *gatedStream) Context() context.Context { return s.ctx }

// proxyGate is implemented by invokers that know callees' rules
// (*invoke.Invoker): proxied calls pass the callee's access control like
// any invocation, and carry its APP_API_TOKEN.
type proxyGate interface {
	AuthorizeProxy(caller, appID, method string) (appToken string, err error)
}
