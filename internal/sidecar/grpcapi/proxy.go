package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec frameCodec falls back on
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// frame is one gRPC message relayed without being decoded.
type frame struct {
	buf mem.BufferSlice
}

// frameCodec passes frames through as raw bytes and encodes anything else
// with the proto codec. It is given to the server and to proxied calls
// explicitly, never registered, so it changes nothing else in the process.
type frameCodec struct{}

var protoCodec = encoding.GetCodecV2("proto")

func (frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*frame); ok {
		// The reference taken in Unmarshal goes to gRPC, which frees it
		// once written.
		b := f.buf
		f.buf = nil
		return b, nil
	}
	return protoCodec.Marshal(v)
}

func (frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*frame); ok {
		data.Ref() // gRPC frees data when this returns
		f.buf = data
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

// Name is the proto codec's, so the content type on the wire stays
// application/grpc+proto.
func (frameCodec) Name() string { return "proto" }

// Metadata keys of gRPC proxying, as daprd names them.
const (
	mdAppID        = "dapr-app-id"
	mdCalleeAppID  = "dapr-callee-app-id"
	mdCallerAppID  = "dapr-caller-app-id"
	mdAPITokenName = "dapr-api-token"
)

// proxy forwards calls of services the sidecar does not serve to the app
// named in their dapr-app-id metadata.
type proxy struct {
	appID  string
	inv    Invoker
	maxMsg int
	log    *slog.Logger
	// certified is set on a standalone sidecar's internal listener, where
	// calls come from peer sidecars for the own app only: it returns the
	// caller's app id from its verified certificate, which replaces the
	// sidecar's own as the caller.
	certified func(context.Context) (string, error)
}

// proxyDesc makes every proxied call a bidirectional stream: that covers
// unary and both one-sided streaming kinds, frame for frame.
var proxyDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// handle is the server's UnknownServiceHandler.
func (p *proxy) handle(_ any, ss grpc.ServerStream) (err error) {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "failed to proxy request: no method")
	}
	ctx := ss.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	target := first(md, mdCalleeAppID)
	if target == "" {
		target = first(md, mdAppID)
	}
	if target == "" {
		return status.Errorf(codes.Unimplemented, "unknown service %s: failed to proxy request: required metadata %s or %s not found",
			strings.TrimPrefix(method[:strings.LastIndex(method, "/")], "/"), mdCalleeAppID, mdAppID)
	}
	if p.inv == nil {
		return status.Error(codes.Unavailable, "failed to proxy request: proxy not initialized")
	}
	caller := p.appID
	if p.certified != nil {
		var err error
		if caller, err = p.certified(ctx); err != nil {
			return status.Errorf(codes.PermissionDenied, "failed to proxy request: caller identity: %v", err)
		}
		// A peer that resolved a stale registration must not reach
		// another app through this sidecar.
		if target != p.appID {
			return status.Errorf(codes.NotFound, "failed to invoke, id: %s, err: this sidecar serves %s", target, p.appID)
		}
	}
	// The callee's access control and APP_API_TOKEN (interceptors.go).
	var appToken string
	if g, ok := p.inv.(proxyGate); ok {
		var err error
		if appToken, err = g.AuthorizeProxy(caller, target, method); err != nil {
			return err
		}
	}
	conn, err := p.inv.DialApp(ctx, target)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		if status.Code(err) == codes.Unavailable {
			conn.Unavailable()
		}
	}()

	out := md.Copy()
	for _, k := range []string{":authority", "content-type", "user-agent", mdAPITokenName} {
		delete(out, k)
	}
	out.Set(mdCallerAppID, caller)
	out.Set(mdCalleeAppID, conn.Target.AppID)
	if appToken != "" {
		out.Set(mdAPITokenName, appToken)
	}

	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := []grpc.CallOption{
		grpc.ForceCodecV2(frameCodec{}),
		grpc.MaxCallRecvMsgSize(p.maxMsg),
		grpc.MaxCallSendMsgSize(p.maxMsg),
	}
	if sub := contentSubtype(first(md, "content-type")); sub != "" {
		opts = append(opts, grpc.CallContentSubtype(sub))
	}
	cs, err := conn.NewStream(metadata.NewOutgoingContext(callCtx, out), proxyDesc, method, opts...)
	if err != nil {
		return err
	}

	toApp := make(chan error, 1)
	toCaller := make(chan error, 1)
	go func() { toApp <- forwardToApp(ss, cs) }()
	go func() { toCaller <- forwardToCaller(cs, ss) }()
	for {
		select {
		case err := <-toApp:
			if err == nil {
				// The caller is done sending; the app's answer decides.
				toApp = nil
				continue
			}
			// The caller went away or sent garbage: stop the app's side.
			cancel()
			<-toCaller
			return status.Errorf(codes.Internal, "failed proxying request to %s: %v", target, err)
		case err := <-toCaller:
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			// The app's status, passed on as it is.
			return err
		}
	}
}

// forwardToApp relays the caller's messages; nil means the caller closed
// its side.
func forwardToApp(ss grpc.ServerStream, cs grpc.ClientStream) error {
	f := &frame{}
	for {
		if err := ss.RecvMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				return cs.CloseSend()
			}
			return err
		}
		if err := cs.SendMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				// The app ended the call; its status comes from RecvMsg.
				return nil
			}
			return err
		}
	}
}

// forwardToCaller relays the app's headers and messages; io.EOF means the
// app ended the call with OK.
func forwardToCaller(cs grpc.ClientStream, ss grpc.ServerStream) error {
	// Header blocks until the app sends its headers or ends the call; in
	// the second case RecvMsg below returns the status and the trailers
	// carry the metadata.
	if h, err := cs.Header(); err == nil && len(h) > 0 {
		if err := ss.SendHeader(h); err != nil {
			return fmt.Errorf("sending headers to the caller: %w", err)
		}
	}
	f := &frame{}
	for {
		if err := cs.RecvMsg(f); err != nil {
			return err
		}
		if err := ss.SendMsg(f); err != nil {
			return fmt.Errorf("sending to the caller: %w", err)
		}
	}
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// contentSubtype is the codec part of a gRPC content type
// ("application/grpc+json" → "json"), forwarded so the app decodes the
// frames as the caller encoded them.
func contentSubtype(ct string) string {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	if !ok || len(rest) < 2 || rest[0] != '+' {
		return ""
	}
	sub := rest[1:]
	if i := strings.IndexByte(sub, ';'); i >= 0 {
		sub = sub[:i]
	}
	return strings.ToLower(sub)
}
