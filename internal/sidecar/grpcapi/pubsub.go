package grpcapi

import (
	"context"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cove-env/cove/internal/blocks/pubsub"
	"github.com/cove-env/cove/internal/daprerr"
)

// PubsubAPI is what the gRPC API needs of the pub/sub building block; the
// signatures are those of pubsub.Service.
type PubsubAPI interface {
	Publish(ctx context.Context, req pubsub.PublishRequest) error
	BulkPublish(ctx context.Context, req pubsub.BulkRequest) ([]pubsub.FailedEntry, error)
	// Check returns Dapr's error for a pub/sub or topic name that will not do.
	Check(name, topic string) error
	Subscribe(ctx context.Context, ch pubsub.AppChannel, subs []pubsub.Subscription) (*pubsub.Subscriber, error)
}

// The publish RPCs only translate; envelopes, scopes and errors are the
// block's, so both front ends answer alike.

func (a *api) pubsubAPI(name string) (PubsubAPI, error) {
	if a.pubsub == nil {
		return nil, daprerr.NoPubsub(name)
	}
	return a.pubsub, nil
}

// traceOf is the call's trace context, which the call gate has set.
func traceOf(ctx context.Context) (traceParent, traceState string) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(mdTraceParent); len(v) > 0 {
		traceParent = v[0]
	}
	if v := md.Get(mdTraceState); len(v) > 0 {
		traceState = v[0]
	}
	return traceParent, traceState
}

// PublishEvent publishes one event.
func (a *api) PublishEvent(ctx context.Context, in *runtimev1pb.PublishEventRequest) (*emptypb.Empty, error) {
	ps, err := a.pubsubAPI(in.GetPubsubName())
	if err != nil {
		return nil, err
	}
	tp, ts := traceOf(ctx)
	err = ps.Publish(ctx, pubsub.PublishRequest{
		Pubsub: in.GetPubsubName(), Topic: in.GetTopic(), Data: in.GetData(), ContentType: in.GetDataContentType(),
		Metadata: in.GetMetadata(), TraceParent: tp, TraceState: ts, TraceInMetadata: true,
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// BulkPublishEventAlpha1 is BulkPublishEvent under its alpha name.
func (a *api) BulkPublishEventAlpha1(ctx context.Context, in *runtimev1pb.BulkPublishRequest) (*runtimev1pb.BulkPublishResponse, error) {
	return a.BulkPublishEvent(ctx, in)
}

// BulkPublishEvent publishes several events. When any was not stored it
// answers ERR_PUBSUB_PUBLISH_MESSAGE alone, as daprd does over gRPC (the
// HTTP API lists the failed entries).
func (a *api) BulkPublishEvent(ctx context.Context, in *runtimev1pb.BulkPublishRequest) (*runtimev1pb.BulkPublishResponse, error) {
	ps, err := a.pubsubAPI(in.GetPubsubName())
	if err != nil {
		return nil, err
	}
	entries := make([]pubsub.BulkEntry, len(in.GetEntries()))
	for i, e := range in.GetEntries() {
		entries[i] = pubsub.BulkEntry{EntryID: e.GetEntryId(), Event: e.GetEvent(), ContentType: e.GetContentType(), Metadata: e.GetMetadata()}
	}
	tp, ts := traceOf(ctx)
	failed, err := ps.BulkPublish(ctx, pubsub.BulkRequest{
		Pubsub: in.GetPubsubName(), Topic: in.GetTopic(), Entries: entries, Metadata: in.GetMetadata(),
		TraceParent: tp, TraceState: ts,
	})
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.BulkPublishResponse{FailedEntries: make([]*runtimev1pb.BulkPublishResponseFailedEntry, 0, len(failed))}
	for _, f := range failed {
		out.FailedEntries = append(out.FailedEntries, &runtimev1pb.BulkPublishResponseFailedEntry{EntryId: f.EntryID, Error: f.Error})
	}
	return out, nil
}
