package sidecar

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/cove-env/cove/internal/blocks/secrets"
	"github.com/cove-env/cove/internal/daprerr"
)

// SecretsAPI is what the sidecar needs of the secrets building block; the
// signatures are those of secrets.Service.
type SecretsAPI interface {
	Stores() []secrets.StoreInfo
	Get(ctx context.Context, store, name string, metadata map[string]string) (map[string]string, error)
	BulkGet(ctx context.Context, store string, metadata map[string]string) (map[string]map[string]string, error)
}

// secretsAPI is the configured block, or ERR_SECRET_STORES_NOT_CONFIGURED.
func (s *Sidecar) secretsAPI() (SecretsAPI, error) {
	if s.cfg.Secrets == nil {
		return nil, daprerr.New(daprerr.SecretStoresNotConfigured, "secret store is not configured")
	}
	return s.cfg.Secrets, nil
}

// getSecret answers GET /v1.0/secrets/{store}/{key}: the secret's
// key/value pairs as a JSON object.
func (s *Sidecar) getSecret(w http.ResponseWriter, r *http.Request) error {
	api, err := s.secretsAPI()
	if err != nil {
		return err
	}
	data, err := api.Get(r.Context(), r.PathValue("store"), r.PathValue("key"), queryMetadata(r))
	if err != nil {
		return err
	}
	return writeSecretJSON(w, data)
}

// bulkGetSecrets answers GET /v1.0/secrets/{store}/bulk: every secret the
// app may read, by name.
func (s *Sidecar) bulkGetSecrets(w http.ResponseWriter, r *http.Request) error {
	api, err := s.secretsAPI()
	if err != nil {
		return err
	}
	data, err := api.BulkGet(r.Context(), r.PathValue("store"), queryMetadata(r))
	if err != nil {
		return err
	}
	return writeSecretJSON(w, data)
}

func writeSecretJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return daprerr.Wrap(daprerr.SecretGet, err, "failed to encode the secret")
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
