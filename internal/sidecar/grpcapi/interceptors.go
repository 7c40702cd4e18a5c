package grpcapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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

// apiLog logs each call once it is answered, as daprd's API logging does:
// "gRPC API Called" at info level with the full method name, the caller's
// user agent, the status code and the duration in milliseconds. It runs
// outermost, so the code is the one the caller gets.
type apiLog struct{ log *slog.Logger }

func (l apiLog) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	res, err := handler(ctx, req)
	l.print(ctx, info.FullMethod, start, err)
	return res, err
}

func (l apiLog) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	l.print(ss.Context(), info.FullMethod, start, err)
	return err
}

func (l apiLog) print(ctx context.Context, method string, start time.Time, err error) {
	attrs := []slog.Attr{slog.String("method", method)}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if ua := md.Get("user-agent"); len(ua) > 0 {
			attrs = append(attrs, slog.String("useragent", ua[0]))
		}
	}
	attrs = append(attrs,
		slog.Int("code", int(status.Code(err))),
		slog.Int64("duration", time.Since(start).Milliseconds()))
	l.log.LogAttrs(ctx, slog.LevelInfo, "gRPC API Called", attrs...)
}

// callMetrics records each call once completed, outermost like apiLog, so
// the status is the one the caller gets.
type callMetrics struct{ rec CallRecorder }

func (m callMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	res, err := handler(ctx, req)
	m.rec.GRPCServed(info.FullMethod, status.Code(err).String(), time.Since(start), messageSize(req), messageSize(res))
	return res, err
}

func (m callMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.rec.GRPCServed(info.FullMethod, status.Code(err).String(), time.Since(start), -1, -1)
	return err
}

// messageSize is a message's encoded size; 0 for none (a failed call).
func messageSize(m any) int {
	if pm, ok := m.(proto.Message); ok && pm != nil {
		return proto.Size(pm)
	}
	return 0
}
