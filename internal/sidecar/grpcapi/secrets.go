package grpcapi

import (
	"context"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"

	"github.com/cove-env/cove/internal/daprerr"
)

// SecretsAPI is what the gRPC API needs of the secrets building block; the
// signatures are those of secrets.Service.
type SecretsAPI interface {
	Get(ctx context.Context, store, name string, metadata map[string]string) (map[string]string, error)
	BulkGet(ctx context.Context, store string, metadata map[string]string) (map[string]map[string]string, error)
}

// The secrets RPCs only translate; stores, scopes and errors are the
// block's, so both front ends answer alike.

func (a *api) secretsAPI() (SecretsAPI, error) {
	if a.secrets == nil {
		return nil, daprerr.New(daprerr.SecretStoresNotConfigured, "secret store is not configured")
	}
	return a.secrets, nil
}

// GetSecret reads one secret's key/value pairs.
func (a *api) GetSecret(ctx context.Context, in *runtimev1pb.GetSecretRequest) (*runtimev1pb.GetSecretResponse, error) {
	sec, err := a.secretsAPI()
	if err != nil {
		return nil, err
	}
	data, err := sec.Get(ctx, in.GetStoreName(), in.GetKey(), in.GetMetadata())
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.GetSecretResponse{Data: data}, nil
}

// GetBulkSecret reads every secret the app may read.
func (a *api) GetBulkSecret(ctx context.Context, in *runtimev1pb.GetBulkSecretRequest) (*runtimev1pb.GetBulkSecretResponse, error) {
	sec, err := a.secretsAPI()
	if err != nil {
		return nil, err
	}
	all, err := sec.BulkGet(ctx, in.GetStoreName(), in.GetMetadata())
	if err != nil {
		return nil, err
	}
	out := &runtimev1pb.GetBulkSecretResponse{Data: make(map[string]*runtimev1pb.SecretResponse, len(all))}
	for name, kv := range all {
		out.Data[name] = &runtimev1pb.SecretResponse{Secrets: kv}
	}
	return out, nil
}
