package grpcapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cove-env/cove/internal/blocks/actors"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/daprerr"
)

// api implements dapr.proto.runtime.v1.Dapr; what it does not implement
// answers Unimplemented through the embedded type.
type api struct {
	runtimev1pb.UnimplementedDaprServer

	appID    string
	state    StateAPI
	secrets  SecretsAPI
	lock     LockAPI
	bindings BindingsAPI
	pubsub   PubsubAPI
	conf     ConfigurationAPI
	inv      Invoker
	actors   ActorsAPI
	jobs     JobsAPI
	self     func() *actors.Host
	// hostActors hosts a gRPC app's actors over its callback stream; nil
	// for an HTTP app.
	hostActors ActorStreamHost
	host       Host
	log        *slog.Logger
	// stopping ends when the server stops.
	stopping context.Context
}

// httpStatusHeader carries an HTTP app's status to a gRPC caller.
const httpStatusHeader = "dapr-http-status"

// InvokeService calls a method of another app. An HTTP app's status comes
// back in the dapr-http-status header and, when not 2xx, as the gRPC code
// daprd maps it to; a gRPC app's status, headers and trailers come back
// as they are.
func (a *api) InvokeService(ctx context.Context, in *runtimev1pb.InvokeServiceRequest) (*commonv1pb.InvokeResponse, error) {
	if a.inv == nil {
		return nil, daprerr.New(daprerr.DirectInvokeNotReady, "invoke API is not ready")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	res, err := a.inv.InvokeMessage(ctx, &invoke.MessageRequest{
		AppID: in.GetId(), CallerAppID: a.appID, Message: in.GetMessage(), Metadata: md,
	})
	if err != nil {
		return nil, err
	}
	if res.HTTPStatus != 0 {
		header := res.Header
		if header == nil {
			header = metadata.MD{}
		}
		header.Set(httpStatusHeader, strconv.Itoa(res.HTTPStatus))
		_ = grpc.SetHeader(ctx, header)
		if err := httpStatusError(res.HTTPStatus, res.Message.GetData().GetValue()); err != nil {
			return nil, err
		}
		return res.Message, nil
	}
	if len(res.Header) > 0 {
		_ = grpc.SetHeader(ctx, res.Header)
	}
	if len(res.Trailer) > 0 {
		_ = grpc.SetTrailer(ctx, res.Trailer)
	}
	if err := res.Status.Err(); err != nil {
		return nil, err
	}
	return res.Message, nil
}

// httpErrorDetailMax is the longest body excerpt daprd puts in the
// ErrorInfo of an HTTP app's failure (ErrorInfo values are short).
const httpErrorDetailMax = 63

// httpStatusError is daprd's gRPC error for an HTTP app's non-2xx status:
// the mapped code, the status text, and an ErrorInfo with the HTTP code
// and the start of the body.
func httpStatusError(code int, body []byte) error {
	c := invoke.CodeFromHTTPStatus(code)
	if c == codes.OK {
		return nil
	}
	text := http.StatusText(code)
	detail := string(body)
	if len(detail) > httpErrorDetailMax {
		detail = detail[:httpErrorDetailMax]
	}
	st := status.New(c, text)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason: text, Domain: errorDomain,
		Metadata: map[string]string{"http.code": strconv.Itoa(code), "http.error_message": detail},
	}); err == nil {
		st = d
	}
	return st.Err()
}

// GetMetadata reports the sidecar's metadata.
func (a *api) GetMetadata(context.Context, *runtimev1pb.GetMetadataRequest) (*runtimev1pb.GetMetadataResponse, error) {
	return a.host.MetadataResponse(), nil
}

// SetMetadata sets an extended metadata attribute.
func (a *api) SetMetadata(_ context.Context, in *runtimev1pb.SetMetadataRequest) (*emptypb.Empty, error) {
	if err := a.host.SetExtendedMetadata(in.GetKey(), in.GetValue()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Shutdown stops the sidecar once the call has been answered.
func (a *api) Shutdown(context.Context, *runtimev1pb.ShutdownRequest) (*emptypb.Empty, error) {
	a.host.Shutdown()
	return &emptypb.Empty{}, nil
}
