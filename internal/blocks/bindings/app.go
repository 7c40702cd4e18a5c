package bindings

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// maxAnswer bounds the app's answer to an event that is kept.
const maxAnswer = 4 << 20

// HTTPApp is the channel to an HTTP app: events are POSTed to their route.
type HTTPApp struct {
	// Addr is the app's host:port.
	Addr string
	// Client sends the requests; nil uses http.DefaultClient.
	Client *http.Client
	// Token is the app's APP_API_TOKEN, sent as dapr-api-token; "" none.
	Token string
}

func (a *HTTPApp) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return http.DefaultClient
}

func (a *HTTPApp) request(ctx context.Context, method, route string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.Addr+"/"+strings.TrimLeft(route, "/"), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.Token != "" {
		req.Header.Set("dapr-api-token", a.Token)
	}
	return req, nil
}

// Takes sends daprd's probe, OPTIONS /{route}: a 2xx or 405 answer means
// the app takes the binding's events.
func (a *HTTPApp) Takes(ctx context.Context, _, route string) (bool, error) {
	req, err := a.request(ctx, http.MethodOptions, route, nil)
	if err != nil {
		return false, err
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return false, fmt.Errorf("could not invoke OPTIONS method on input binding subscription endpoint %q: %w", route, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusMethodNotAllowed, nil
}

// Deliver POSTs the event's data to /{route} as application/json, its
// metadata as headers; any answer but 2xx is a failure.
func (a *HTTPApp) Deliver(ctx context.Context, ev *Event) (*Answer, error) {
	req, err := a.request(ctx, http.MethodPost, ev.Route, ev.Data)
	if err != nil {
		return nil, err
	}
	for k, v := range ev.Metadata {
		if headerSafe(k, v) {
			req.Header.Set(k, v)
		}
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("error invoking app: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("fails to send binding event to http app channel, status code: %d body: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read response body: %w", err)
	}
	return &Answer{Data: body}, nil
}

// headerSafe keeps metadata that can travel as an HTTP header.
func headerSafe(k, v string) bool {
	if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n") {
		return false
	}
	return !strings.EqualFold(k, "content-length") && !strings.EqualFold(k, "host") && !strings.EqualFold(k, "content-type")
}

// GRPCApp is the channel to a gRPC app: its AppCallback service.
type GRPCApp struct {
	Conn grpc.ClientConnInterface
	// Token is the app's APP_API_TOKEN, sent as dapr-api-token; "" none.
	Token string

	listed []string // the app's ListInputBindings answer, asked once
	asked  bool
}

func (a *GRPCApp) ctx(ctx context.Context) context.Context {
	if a.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "dapr-api-token", a.Token)
}

// Takes looks for the binding in the app's ListInputBindings answer,
// asked once; an app that does not implement it takes none. Read calls it
// from one goroutine.
func (a *GRPCApp) Takes(ctx context.Context, name, _ string) (bool, error) {
	if !a.asked {
		resp, err := runtimev1pb.NewAppCallbackClient(a.Conn).ListInputBindings(a.ctx(ctx), &emptypb.Empty{})
		if err != nil && status.Code(err) != codes.Unimplemented {
			return false, fmt.Errorf("ask the app for its input bindings: %w", err)
		}
		a.listed, a.asked = resp.GetBindings(), true
	}
	return slices.Contains(a.listed, name), nil
}

// Deliver calls OnBindingEvent; the answer's data, and the output bindings
// it names, come back.
func (a *GRPCApp) Deliver(ctx context.Context, ev *Event) (*Answer, error) {
	ctx = a.ctx(ctx)
	if tp := ev.Metadata["traceparent"]; tp != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
	}
	resp, err := runtimev1pb.NewAppCallbackClient(a.Conn).OnBindingEvent(ctx, &runtimev1pb.BindingEventRequest{
		Name: ev.Binding, Data: ev.Data, Metadata: ev.Metadata,
	})
	if err != nil {
		return nil, fmt.Errorf("error invoking app: %w", err)
	}
	return &Answer{
		Data: resp.GetData(), To: resp.GetTo(),
		Parallel: resp.GetConcurrency() == runtimev1pb.BindingEventResponse_PARALLEL,
	}, nil
}
