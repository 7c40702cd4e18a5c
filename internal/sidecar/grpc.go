package sidecar

import (
	"context"
	"log/slog"
	"math"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/sidecar/grpcapi"
)

// newGRPCServer builds the gRPC front end over the same blocks and limits
// as the HTTP one.
func (s *Sidecar) newGRPCServer() (*grpcapi.Server, error) {
	maxMsg := invoke.DefaultMaxMessageSize
	if n := s.cfg.MaxRequestBodySize; n > 0 {
		maxMsg = int(min(n, math.MaxInt32))
	}
	cfg := grpcapi.Config{
		AppID:             s.cfg.AppID,
		Host:              grpcHost{s},
		MaxMessageSize:    maxMsg,
		MaxHeaderListSize: s.cfg.MaxHeaderBytes,
		Logger:            s.log,
		APIToken:          s.cfg.APIToken,
		TraceSampling:     s.traceSampling(),
		CallLog:           s.apiLogger(),
	}
	if s.cfg.Metrics != nil {
		cfg.CallMetrics = s.cfg.Metrics
	}
	if s.cfg.State != nil {
		cfg.State = s.cfg.State
	}
	if s.cfg.Secrets != nil {
		cfg.Secrets = s.cfg.Secrets
	}
	if s.cfg.Lock != nil {
		cfg.Lock = s.cfg.Lock
	}
	if s.cfg.Bindings != nil {
		cfg.Bindings = s.cfg.Bindings
	}
	if s.cfg.Pubsub != nil {
		cfg.Pubsub = s.cfg.Pubsub
	}
	if s.cfg.Configuration != nil {
		cfg.Configuration = s.cfg.Configuration
	}
	if s.cfg.Actors != nil {
		cfg.Actors, cfg.ActorHost = s.cfg.Actors, s.actorHost
		if s.cfg.AppProtocol == invoke.ProtocolGRPC || s.cfg.AppAddr == "" {
			cfg.HostActorStream = s.hostActorStream
		}
	}
	if s.cfg.Jobs != nil {
		cfg.Jobs = s.cfg.Jobs
	}
	if inv, ok := s.cfg.Invoker.(grpcapi.Invoker); ok {
		cfg.Invoker = inv
	}
	return grpcapi.New(cfg)
}

// startGRPC serves the gRPC API when it has a listener; it runs inside
// Start's once.
func (s *Sidecar) startGRPC() {
	if s.grpc == nil {
		close(s.grpcDone)
		return
	}
	go func() {
		defer close(s.grpcDone)
		if err := s.grpc.Serve(s.cfg.GRPCListener); err != nil {
			s.log.Error("dapr gRPC API stopped", slog.Any("error", err))
		}
	}()
}

// stopGRPC drains the gRPC API until ctx ends.
func (s *Sidecar) stopGRPC(ctx context.Context) error {
	if s.grpc == nil {
		return nil
	}
	if err := s.grpc.Stop(ctx); err != nil {
		return err
	}
	select {
	case <-s.grpcDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// grpcHost is the sidecar as the gRPC API sees it.
type grpcHost struct{ s *Sidecar }

func (h grpcHost) SetExtendedMetadata(key, value string) error {
	return h.s.SetExtendedMetadata(key, value)
}

func (h grpcHost) Shutdown() { h.s.shutdown() }

// MetadataResponse renders Metadata as the gRPC API's message; both APIs
// report the same thing from one source.
func (h grpcHost) MetadataResponse() *runtimev1pb.GetMetadataResponse {
	md := h.s.Metadata()
	out := &runtimev1pb.GetMetadataResponse{
		Id:               md.ID,
		RuntimeVersion:   md.RuntimeVersion,
		EnabledFeatures:  md.EnabledFeatures,
		ExtendedMetadata: md.Extended,
		AppConnectionProperties: &runtimev1pb.AppConnectionProperties{
			Port:           md.AppConnectionProperties.Port,
			Protocol:       md.AppConnectionProperties.Protocol,
			ChannelAddress: md.AppConnectionProperties.ChannelAddress,
			MaxConcurrency: md.AppConnectionProperties.MaxConcurrency,
		},
		ActorRuntime: &runtimev1pb.ActorRuntime{
			RuntimeStatus: actorStatus(md.ActorRuntime.Status),
			HostReady:     md.ActorRuntime.HostReady,
			Placement:     md.ActorRuntime.Placement,
		},
	}
	if hp := md.AppConnectionProperties.Health; hp != nil {
		out.AppConnectionProperties.Health = &runtimev1pb.AppConnectionHealthProperties{
			HealthCheckPath:     hp.HealthCheckPath,
			HealthProbeInterval: hp.HealthProbeInterval,
			HealthProbeTimeout:  hp.HealthProbeTimeout,
			HealthThreshold:     hp.HealthThreshold,
		}
	}
	for _, a := range md.ActorRuntime.ActiveActors {
		out.ActorRuntime.ActiveActors = append(out.ActorRuntime.ActiveActors, &runtimev1pb.ActiveActorsCount{Type: a.Type, Count: a.Count})
	}
	// Deprecated in the proto, still filled as daprd does: older SDKs read it.
	for _, a := range md.ActiveActorsCount {
		//lint:ignore SA1019 kept for older SDKs
		out.ActiveActorsCount = append(out.ActiveActorsCount, &runtimev1pb.ActiveActorsCount{Type: a.Type, Count: a.Count})
	}
	for _, c := range md.RegisteredComponents {
		out.RegisteredComponents = append(out.RegisteredComponents, &runtimev1pb.RegisteredComponents{
			Name: c.Name, Type: c.Type, Version: c.Version, Capabilities: c.Capabilities,
		})
	}
	for _, sub := range md.Subscriptions {
		ps := &runtimev1pb.PubsubSubscription{
			PubsubName: sub.PubsubName, Topic: sub.Topic, Metadata: sub.Metadata,
			DeadLetterTopic: sub.DeadLetterTopic,
			Type:            runtimev1pb.PubsubSubscriptionType(runtimev1pb.PubsubSubscriptionType_value[sub.Type]),
		}
		if len(sub.Rules) > 0 {
			ps.Rules = &runtimev1pb.PubsubSubscriptionRules{}
			for _, r := range sub.Rules {
				ps.Rules.Rules = append(ps.Rules.Rules, &runtimev1pb.PubsubSubscriptionRule{Match: r.Match, Path: r.Path})
			}
		}
		out.Subscriptions = append(out.Subscriptions, ps)
	}
	for _, e := range md.HTTPEndpoints {
		out.HttpEndpoints = append(out.HttpEndpoints, &runtimev1pb.MetadataHTTPEndpoint{Name: e.Name})
	}
	return out
}

// actorStatus maps the HTTP API's runtime status name to the enum.
func actorStatus(name string) runtimev1pb.ActorRuntime_ActorRuntimeStatus {
	return runtimev1pb.ActorRuntime_ActorRuntimeStatus(runtimev1pb.ActorRuntime_ActorRuntimeStatus_value[name])
}
