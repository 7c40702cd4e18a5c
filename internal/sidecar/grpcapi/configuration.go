package grpcapi

import (
	"context"
	"fmt"
	"sync"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/blocks/configuration"
	cconf "github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/daprerr"
)

// ConfigurationAPI is what the gRPC API needs of the configuration
// building block; the signatures are those of configuration.Service.
type ConfigurationAPI interface {
	Check(store string) error
	Get(ctx context.Context, store string, keys []string, md map[string]string) (map[string]*configuration.Item, error)
	Subscribe(ctx context.Context, store string, keys []string, md map[string]string, h cconf.Handler) (string, error)
	Stop(id string) bool
}

func (a *api) configurationAPI(store string) (ConfigurationAPI, error) {
	if a.conf == nil {
		return nil, daprerr.NoConfigurationStores()
	}
	return a.conf, a.conf.Check(store)
}

// GetConfiguration reads items.
func (a *api) GetConfiguration(ctx context.Context, in *runtimev1pb.GetConfigurationRequest) (*runtimev1pb.GetConfigurationResponse, error) {
	c, err := a.configurationAPI(in.GetStoreName())
	if err != nil {
		return nil, err
	}
	items, err := c.Get(ctx, in.GetStoreName(), in.GetKeys(), in.GetMetadata())
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.GetConfigurationResponse{Items: itemsPB(items)}, nil
}

// GetConfigurationAlpha1 is GetConfiguration under its alpha name.
func (a *api) GetConfigurationAlpha1(ctx context.Context, in *runtimev1pb.GetConfigurationRequest) (*runtimev1pb.GetConfigurationResponse, error) {
	return a.GetConfiguration(ctx, in)
}

// SubscribeConfiguration streams a subscription, as daprd does: a first
// message with the id alone, then one per update, until the caller leaves
// or UnsubscribeConfiguration or the server's stop ends it.
func (a *api) SubscribeConfiguration(in *runtimev1pb.SubscribeConfigurationRequest, stream runtimev1pb.Dapr_SubscribeConfigurationServer) error {
	c, err := a.configurationAPI(in.GetStoreName())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	if a.stopping != nil {
		defer context.AfterFunc(a.stopping, cancel)()
	}
	var (
		mu    sync.Mutex // Send is not safe from several goroutines
		ready = make(chan struct{})
	)
	id, err := c.Subscribe(ctx, in.GetStoreName(), in.GetKeys(), in.GetMetadata(), func(ctx context.Context, u *cconf.Update) error {
		select {
		case <-ready: // the id goes first
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(&runtimev1pb.SubscribeConfigurationResponse{Id: u.ID, Items: itemsPB(u.Items)})
	})
	if err != nil {
		return err
	}
	// Whichever way the stream ends, the subscription ends with it.
	defer c.Stop(id)
	mu.Lock()
	err = stream.Send(&runtimev1pb.SubscribeConfigurationResponse{Id: id})
	mu.Unlock()
	close(ready)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// SubscribeConfigurationAlpha1 is SubscribeConfiguration under its alpha
// name.
func (a *api) SubscribeConfigurationAlpha1(in *runtimev1pb.SubscribeConfigurationRequest, stream runtimev1pb.Dapr_SubscribeConfigurationAlpha1Server) error {
	return a.SubscribeConfiguration(in, stream.(runtimev1pb.Dapr_SubscribeConfigurationServer))
}

// UnsubscribeConfiguration stops a subscription stream by its id: ok
// false with daprd's message for an id it does not know.
func (a *api) UnsubscribeConfiguration(_ context.Context, in *runtimev1pb.UnsubscribeConfigurationRequest) (*runtimev1pb.UnsubscribeConfigurationResponse, error) {
	if a.conf == nil || !a.conf.Stop(in.GetId()) {
		return &runtimev1pb.UnsubscribeConfigurationResponse{
			Message: fmt.Sprintf("failed to unsubscribe to configuration request %s: subscription does not exist", in.GetId()),
		}, nil
	}
	return &runtimev1pb.UnsubscribeConfigurationResponse{Ok: true}, nil
}

// UnsubscribeConfigurationAlpha1 is UnsubscribeConfiguration under its
// alpha name.
func (a *api) UnsubscribeConfigurationAlpha1(ctx context.Context, in *runtimev1pb.UnsubscribeConfigurationRequest) (*runtimev1pb.UnsubscribeConfigurationResponse, error) {
	return a.UnsubscribeConfiguration(ctx, in)
}

func itemsPB(items map[string]*configuration.Item) map[string]*commonv1pb.ConfigurationItem {
	out := make(map[string]*commonv1pb.ConfigurationItem, len(items))
	for k, v := range items {
		if v == nil {
			v = &configuration.Item{}
		}
		out[k] = &commonv1pb.ConfigurationItem{Value: v.Value, Version: v.Version, Metadata: v.Metadata}
	}
	return out
}
