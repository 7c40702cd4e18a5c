package grpcapi

import (
	"context"
	"maps"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/daprerr"
)

// BindingsAPI is what the gRPC API needs of the output bindings block.
type BindingsAPI interface {
	Invoke(ctx context.Context, name string, req *bindings.Request) (*bindings.Response, error)
}

// InvokeBinding runs an output binding's operation. The binding's response
// metadata also goes out as metadata.<key> headers, even with an error, as
// daprd sends them.
func (a *api) InvokeBinding(ctx context.Context, in *runtimev1pb.InvokeBindingRequest) (*runtimev1pb.InvokeBindingResponse, error) {
	if a.bindings == nil {
		return nil, daprerr.NoOutputBinding(in.GetName(), in.GetOperation())
	}
	md := make(map[string]string, len(in.GetMetadata()))
	maps.Copy(md, in.GetMetadata())
	// The call's trace context goes on to the binding unless the request
	// names its own, as daprd passes it.
	if incoming, ok := metadata.FromIncomingContext(ctx); ok {
		for _, k := range []string{mdTraceParent, mdTraceState} {
			if v := incoming.Get(k); len(v) > 0 && md[k] == "" {
				md[k] = v[0]
			}
		}
	}
	resp, err := a.bindings.Invoke(ctx, in.GetName(), &bindings.Request{Operation: in.GetOperation(), Data: in.GetData(), Metadata: md})
	if resp != nil && len(resp.Metadata) > 0 {
		h := metadata.MD{}
		for k, v := range resp.Metadata {
			h.Append("metadata."+k, v)
		}
		_ = grpc.SetHeader(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.InvokeBindingResponse{}
	if resp != nil {
		out.Data, out.Metadata = resp.Data, resp.Metadata
	}
	return out, nil
}
