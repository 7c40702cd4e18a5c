package invoke

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// onInvokeMethod is the app callback daprd calls on apps speaking gRPC.
const onInvokeMethod = runtimev1pb.AppCallback_OnInvoke_FullMethodName

// MessageRequest is an invocation in the shape of Dapr's gRPC API
// (InvokeService): the message goes unchanged to an app speaking gRPC, and
// is translated into an HTTP request for the others.
type MessageRequest struct {
	// AppID is the target app id, optionally qualified as "app.namespace".
	AppID string
	// CallerAppID is the invoking app's id.
	CallerAppID string
	Message     *commonv1pb.InvokeRequest
	// Metadata is the caller's gRPC metadata, forwarded as Dapr does.
	Metadata metadata.MD
}

// MessageResponse is the app's answer to a MessageRequest.
type MessageResponse struct {
	Message *commonv1pb.InvokeResponse
	// Header and Trailer are for the caller's gRPC response; Trailer is set
	// only by apps speaking gRPC.
	Header, Trailer metadata.MD
	// HTTPStatus is the status of an app speaking HTTP, 0 otherwise.
	HTTPStatus int
	// Status is the status of an app speaking gRPC, nil otherwise.
	Status *status.Status
}

// AppConn is a pooled client connection to one replica's gRPC server.
// Release it when the call is done; it is closed once unused for a while.
type AppConn struct {
	*grpc.ClientConn
	Target Target

	pool *connPool
	pc   *pooledConn // nil for a peer sidecar's connection, closed on Release
	once bool
}

// Unavailable reports that a call over the connection could not reach the
// target (gRPC's Unavailable), so a resolver that remembers targets looks
// again next time. An app may answer Unavailable itself; that costs one
// more lookup.
func (c *AppConn) Unavailable() { c.Target.refused() }

// Release returns the connection to the pool (or closes a peer sidecar's)
// and ends the call to the target (Target.Done); later calls are no-ops.
func (c *AppConn) Release() {
	if c.once {
		return
	}
	c.once = true
	c.Target.finish()
	if c.pc == nil {
		_ = c.ClientConn.Close()
		return
	}
	c.pool.put(c.pc)
}

// PeerCredentials is implemented by a Transport that reaches some targets
// through peer sidecars over mutual TLS (PeerTransport): DialApp dials
// those with the credentials it returns instead of in the clear.
type PeerCredentials interface {
	// GRPCCredentials returns the credentials to dial target with, nil when
	// target is reached in the clear (the own app, a local replica).
	GRPCCredentials(target Target) credentials.TransportCredentials
}

// DialApp resolves appID to a ready replica and returns a pooled
// connection to its port, for proxying gRPC calls to the app as they are.
// Errors are *daprerr.Error with code ERR_DIRECT_INVOKE.
func (i *Invoker) DialApp(ctx context.Context, appID string) (*AppConn, error) {
	bare, err := i.bareAppID(appID)
	if err != nil {
		return nil, invokeError(appID, err)
	}
	target, err := i.resolver.Resolve(ctx, bare)
	if err != nil {
		return nil, invokeError(appID, err)
	}
	if pcr, ok := i.transport.(PeerCredentials); ok {
		if creds := pcr.GRPCCredentials(target); creds != nil {
			// Not pooled: the connection is bound to the callee its
			// certificate was checked against, and a peer sidecar's
			// address may be taken over by another after it exits.
			cc, err := grpc.NewClient("passthrough:///"+target.Addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				target.finish()
				return nil, invokeError(appID, fmt.Errorf("grpc client for peer %s: %w", target.Addr, err))
			}
			return &AppConn{ClientConn: cc, Target: target}, nil
		}
	}
	pc, err := i.conns.get(target.Addr)
	if err != nil {
		target.finish()
		return nil, invokeError(appID, err)
	}
	return &AppConn{ClientConn: pc.cc, Target: target, pool: i.conns, pc: pc}, nil
}

// InvokeMessage forwards an invocation made through the gRPC API. An app
// speaking gRPC gets the message on its OnInvoke callback; an HTTP app gets
// the HTTP request the message describes (HTTPExtension verb and query
// string, content type, the data's bytes as body), its answer read whole.
func (i *Invoker) InvokeMessage(ctx context.Context, req *MessageRequest) (*MessageResponse, error) {
	appID, err := i.bareAppID(req.AppID)
	if err != nil {
		return nil, invokeError(req.AppID, err)
	}
	return i.applyMessagePolicies(ctx, req, appID, i.invokeMessageTarget)
}

// invokeMessageTarget makes one attempt at an InvokeMessage call.
func (i *Invoker) invokeMessageTarget(ctx context.Context, req *MessageRequest, appID string) (*MessageResponse, error) {
	target, err := i.resolver.Resolve(ctx, appID)
	if err != nil {
		return nil, invokeError(req.AppID, err)
	}
	msg := req.Message
	if msg == nil {
		msg = &commonv1pb.InvokeRequest{}
	}
	if target.Protocol == ProtocolGRPC {
		defer target.finish()
		md := grpcMetadataForApp(req.Metadata, req.CallerAppID, appID, i.namespace)
		return i.callOnInvoke(ctx, req.AppID, target, msg, md)
	}

	h := grpcMetadataToHTTP(req.Metadata)
	if ct := messageContentType(msg); ct != "" {
		h.Set("Content-Type", ct)
	}
	prepareRequestHeader(h, req.CallerAppID, appID, i.namespace)
	data := msg.GetData().GetValue()
	path, query := splitMethod(msg.GetMethod(), msg.GetHttpExtension().GetQuerystring())
	hreq := &Request{
		AppID:         req.AppID,
		Method:        httpVerb(msg.GetHttpExtension().GetVerb()),
		Path:          resolveDots(path),
		Query:         query,
		Header:        h,
		ContentLength: int64(len(data)),
		CallerAppID:   req.CallerAppID,
	}
	if len(data) > 0 {
		hreq.Body = io.NopCloser(bytes.NewReader(data))
	}
	resp, err := i.roundTrip(ctx, hreq, appID, target)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(i.maxMsgSize)+1))
	if err != nil {
		return nil, invokeError(req.AppID, fmt.Errorf("reading the response: %w", err))
	}
	if len(body) > i.maxMsgSize {
		return nil, invokeError(req.AppID, fmt.Errorf("response larger than %d bytes", i.maxMsgSize))
	}
	return &MessageResponse{
		Message: &commonv1pb.InvokeResponse{
			Data:        &anypb.Any{Value: body},
			ContentType: resp.Header.Get("Content-Type"),
		},
		Header:     httpHeaderToGRPC(resp.Header),
		HTTPStatus: resp.Status,
	}, nil
}

// splitMethod splits an invoked method into the path and the query string
// an HTTP app gets: a method may carry a query ("items/7?x=1", as the
// JavaScript SDK sends it), which goes before the HTTPExtension's.
func splitMethod(method, query string) (path, q string) {
	path, q, ok := strings.Cut(method, "?")
	switch {
	case !ok || q == "":
		return path, query
	case query == "":
		return path, q
	}
	return path, q + "&" + query
}

// messageContentType is the content type an HTTP app sees: a typed Any is
// protobuf, whatever the message says, as in daprd.
func messageContentType(msg *commonv1pb.InvokeRequest) string {
	if msg.GetData().GetTypeUrl() != "" {
		return "application/x-protobuf"
	}
	return msg.GetContentType()
}

// httpVerb names an HTTPExtension verb; an unset one is POST.
func httpVerb(v commonv1pb.HTTPExtension_Verb) string {
	if v == commonv1pb.HTTPExtension_NONE {
		return http.MethodPost
	}
	return v.String()
}

// callOnInvoke calls the app's OnInvoke on a pooled connection. The app's
// own error status is an answer, not an error.
func (i *Invoker) callOnInvoke(ctx context.Context, id string, target Target, msg *commonv1pb.InvokeRequest, md metadata.MD) (*MessageResponse, error) {
	pc, err := i.conns.get(target.Addr)
	if err != nil {
		return nil, invokeError(id, err)
	}
	defer i.conns.put(pc)
	out := new(commonv1pb.InvokeResponse)
	var header, trailer metadata.MD
	err = pc.cc.Invoke(metadata.NewOutgoingContext(ctx, md), onInvokeMethod, msg, out,
		grpc.Header(&header), grpc.Trailer(&trailer),
		grpc.MaxCallSendMsgSize(i.maxMsgSize), grpc.MaxCallRecvMsgSize(i.maxMsgSize))
	resp := &MessageResponse{Header: header, Trailer: trailer, Status: status.Convert(err)}
	if err == nil {
		resp.Message = out
	}
	return resp, nil
}

// invokeGRPCApp serves an HTTP-shaped invocation of an app speaking gRPC:
// the request becomes an OnInvoke message, and the answer an HTTP response
// (a gRPC error becomes its HTTP status with the status as JSON body).
func (i *Invoker) invokeGRPCApp(ctx context.Context, req *Request, target Target) (*Response, error) {
	var data []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		data, err = io.ReadAll(io.LimitReader(req.Body, int64(i.maxMsgSize)+1))
		closeBody(req.Body)
		if err != nil {
			return nil, invokeError(req.AppID, fmt.Errorf("reading the request: %w", err))
		}
	}
	msg := &commonv1pb.InvokeRequest{
		Method:      strings.TrimPrefix(req.Path, "/"),
		Data:        &anypb.Any{Value: data},
		ContentType: req.Header.Get("Content-Type"),
		HttpExtension: &commonv1pb.HTTPExtension{
			Verb:        commonv1pb.HTTPExtension_Verb(commonv1pb.HTTPExtension_Verb_value[strings.ToUpper(req.Method)]),
			Querystring: req.Query,
		},
	}
	res, err := i.callOnInvoke(ctx, req.AppID, target, msg, httpHeaderToGRPC(req.Header))
	if err != nil {
		return nil, err
	}
	h := grpcMetadataToHTTP(res.Header)
	var body []byte
	code := res.Status.Code()
	st := HTTPStatusFromCode(code)
	if code == codes.OK {
		body = res.Message.GetData().GetValue()
		if ct := res.Message.GetContentType(); ct != "" {
			h.Set("Content-Type", ct)
		}
	} else {
		body, err = protojson.Marshal(res.Status.Proto())
		if err != nil {
			return nil, invokeError(req.AppID, fmt.Errorf("encoding the app's status: %w", err))
		}
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &Response{Status: st, Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
}

// grpcMetadataForApp is what an app speaking gRPC receives: the caller's
// metadata with the identity keys stamped, spoofed ones replaced.
func grpcMetadataForApp(in metadata.MD, caller, callee, namespace string) metadata.MD {
	md := make(metadata.MD, len(in)+3)
	for k, v := range in {
		if k == ":authority" || k == "content-type" || k == "user-agent" || strings.HasPrefix(k, "grpc-") {
			continue
		}
		md[k] = v
	}
	delete(md, "dapr-app-id")
	md["dapr-caller-app-id"] = []string{caller}
	md["dapr-callee-app-id"] = []string{callee}
	md["dapr-caller-namespace"] = []string{namespace}
	return md
}

// httpHeaderToGRPC turns HTTP headers into gRPC metadata as daprd does:
// lower-case keys, the headers HTTP itself defines prefixed with "dapr-"
// (they mean something else to gRPC), "-bin" values base64-decoded.
func httpHeaderToGRPC(h http.Header) metadata.MD {
	md := make(metadata.MD, len(h))
	for k, vv := range h {
		key := strings.ToLower(k)
		if key == "user-agent" || strings.HasPrefix(key, "grpc-") || strings.HasPrefix(key, ":") {
			continue
		}
		if permanentHTTPHeader(k) {
			key = "dapr-" + key
		}
		if strings.HasSuffix(key, "-bin") {
			for _, v := range vv {
				if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
					md[key] = append(md[key], string(dec))
				}
			}
			continue
		}
		md[key] = append(md[key], vv...)
	}
	return md
}

// grpcMetadataToHTTP turns gRPC metadata into HTTP headers as daprd does:
// binary values and the content type are left out, and gRPC's reserved
// keys are prefixed with "dapr-".
func grpcMetadataToHTTP(md metadata.MD) http.Header {
	h := make(http.Header, len(md)+2)
	for k, vv := range md {
		key := strings.ToLower(k)
		if strings.HasSuffix(key, "-bin") || key == "content-type" || key == "dapr-app-id" || len(vv) == 0 {
			continue
		}
		switch {
		case key == ":method" || key == ":scheme" || key == ":path" || key == ":authority":
			key = "dapr-" + key[1:]
		case strings.HasPrefix(key, "grpc-"):
			key = "dapr-" + key
		case strings.HasPrefix(key, ":"):
			continue
		}
		h[http.CanonicalHeaderKey(key)] = append(h[http.CanonicalHeaderKey(key)], vv...)
	}
	return h
}

// permanentHTTPHeader reports the headers daprd renames when carrying
// HTTP headers in gRPC metadata (IANA's permanent request headers).
func permanentHTTPHeader(canonical string) bool {
	switch canonical {
	case "Accept", "Accept-Charset", "Accept-Language", "Accept-Ranges",
		"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade",
		"Cache-Control", "Content-Type", "Content-Length", "Cookie", "Date", "Expect",
		"From", "Host", "If-Match", "If-Modified-Since", "If-None-Match",
		"If-Schedule-Tag-Match", "If-Unmodified-Since", "Max-Forwards", "Origin",
		"Pragma", "Referer", "Via", "Warning":
		return true
	}
	return false
}

// HTTPStatusFromCode is the HTTP status daprd answers for a gRPC code.
func HTTPStatusFromCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return http.StatusRequestTimeout
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// CodeFromHTTPStatus is the gRPC code daprd answers a gRPC caller with for
// an HTTP app's status. Its choices are daprd's, 400 → Internal included.
func CodeFromHTTPStatus(s int) codes.Code {
	if s >= 200 && s < 300 {
		return codes.OK
	}
	switch s {
	case http.StatusRequestTimeout:
		return codes.Canceled
	case http.StatusInternalServerError:
		return codes.Unknown
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.AlreadyExists
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Unknown
}
