package jobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// valueType is the type of the data a job scheduled over HTTP carries: the
// JSON it was given, as a google.protobuf.Value.
const valueType = "type.googleapis.com/google.protobuf.Value"

// HTTPApp delivers jobs to an HTTP app: POST /job/{name} with the data as
// daprd sends it (JSON data as JSON, anything else as its bytes).
type HTTPApp struct {
	// Addr is the app's host:port.
	Addr string
	// Client sends the requests; nil uses http.DefaultClient.
	Client *http.Client
	// Token is the app's APP_API_TOKEN, sent as dapr-api-token; "" none.
	Token string
}

// httpBody is the body daprd POSTs for a job's data.
func httpBody(data *anypb.Any) ([]byte, error) {
	if data.GetTypeUrl() != valueType {
		return bytes.TrimSpace(data.GetValue()), nil
	}
	var v structpb.Value
	if err := data.UnmarshalTo(&v); err != nil {
		return nil, fmt.Errorf("the job's data: %w", err)
	}
	if v.GetKind() == nil {
		return nil, nil
	}
	return v.MarshalJSON()
}

// DeliverJob POSTs the job; a 2xx answer is a delivery, and so is 404
// (daprd does not retry an app without the route), anything else a
// failure.
func (a *HTTPApp) DeliverJob(ctx context.Context, name string, data *anypb.Any) error {
	body, err := httpBody(data)
	if err != nil {
		return err
	}
	u := "http://" + a.Addr + "/job/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.Token != "" {
		req.Header.Set("dapr-api-token", a.Token)
	}
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("send the job to the app: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return fmt.Errorf("the app answered job %s with status %d: %s", name, resp.StatusCode, bytes.TrimSpace(msg))
}

// GRPCApp delivers jobs to a gRPC app: AppCallback's OnJobEvent, or
// AppCallbackAlpha's OnJobEventAlpha1 for an app without it, as daprd
// 1.18 tries them.
type GRPCApp struct {
	Conn grpc.ClientConnInterface
	// Token is the app's APP_API_TOKEN, sent as dapr-api-token; "" none.
	Token string
}

// DeliverJob calls the app; OK is a delivery, and so is NotFound (as in
// daprd), any other status a failure.
func (a *GRPCApp) DeliverJob(ctx context.Context, name string, data *anypb.Any) error {
	if a.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "dapr-api-token", a.Token)
	}
	req := &runtimev1pb.JobEventRequest{
		Name: name, Data: data, Method: "job/" + name, ContentType: data.GetTypeUrl(),
		HttpExtension: &commonv1pb.HTTPExtension{Verb: commonv1pb.HTTPExtension_POST},
	}
	_, err := runtimev1pb.NewAppCallbackClient(a.Conn).OnJobEvent(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		//lint:ignore SA1019 the alpha callback is what older SDKs serve, and daprd falls back to it
		_, err = runtimev1pb.NewAppCallbackAlphaClient(a.Conn).OnJobEventAlpha1(ctx, req)
	}
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		return nil
	}
	return fmt.Errorf("the app answered job %s: %w", name, err)
}
