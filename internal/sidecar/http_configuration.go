package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/cove-env/cove/internal/blocks/configuration"
	cconf "github.com/cove-env/cove/internal/components/configuration"
	"github.com/cove-env/cove/internal/daprerr"
)

// ConfigurationAPI is what the sidecar needs of the configuration building
// block; the signatures are those of configuration.Service.
type ConfigurationAPI interface {
	Stores() []configuration.StoreInfo
	Check(store string) error
	Get(ctx context.Context, store string, keys []string, md map[string]string) (map[string]*configuration.Item, error)
	Subscribe(ctx context.Context, store string, keys []string, md map[string]string, h cconf.Handler) (string, error)
	Unsubscribe(ctx context.Context, store, id string) error
	Stop(id string) bool
}

// configurationAPI is the block after daprd's check of the store name.
func (s *Sidecar) configurationAPI(store string) (ConfigurationAPI, error) {
	if s.cfg.Configuration == nil {
		return nil, daprerr.NoConfigurationStores()
	}
	return s.cfg.Configuration, s.cfg.Configuration.Check(store)
}

// getConfiguration answers GET /v1.0/configuration/{store}?key=a&key=b:
// the items by key, or 204 when there are none.
func (s *Sidecar) getConfiguration(w http.ResponseWriter, r *http.Request) error {
	store := r.PathValue("store")
	api, err := s.configurationAPI(store)
	if err != nil {
		return err
	}
	items, err := api.Get(r.Context(), store, r.URL.Query()["key"], queryMetadata(r))
	if err != nil {
		return err
	}
	if len(items) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return writeValueJSON(w, items)
}

// subscribeConfiguration answers GET …/subscribe?key=a: {"id": …}. The
// updates are POSTed to the app until unsubscribe or the sidecar's end.
func (s *Sidecar) subscribeConfiguration(w http.ResponseWriter, r *http.Request) error {
	store := r.PathValue("store")
	api, err := s.configurationAPI(store)
	if err != nil {
		return err
	}
	if s.cfg.AppAddr == "" {
		return daprerr.New(daprerr.AppChannelNil, "app channel is not initialized. cannot subscribe to configuration updates")
	}
	id, err := api.Subscribe(s.life, store, r.URL.Query()["key"], queryMetadata(r), func(ctx context.Context, u *cconf.Update) error {
		return s.postConfiguration(ctx, store, u)
	})
	if err != nil {
		return err
	}
	return writeValueJSON(w, struct {
		ID string `json:"id"`
	}{id})
}

// unsubscribeConfiguration answers GET …/{id}/unsubscribe: {"ok":true},
// or 500 with {"message": …} (daprd's shape, without an errorCode).
func (s *Sidecar) unsubscribeConfiguration(w http.ResponseWriter, r *http.Request) error {
	store := r.PathValue("store")
	api, err := s.configurationAPI(store)
	if err != nil {
		return err
	}
	type answer struct {
		OK      bool   `json:"ok,omitempty"`
		Message string `json:"message,omitempty"`
	}
	if err := api.Unsubscribe(r.Context(), store, r.PathValue("id")); err != nil {
		body, _ := json.Marshal(answer{Message: daprerr.From(err).Message})
		writeJSON(w, http.StatusInternalServerError, body)
		return nil
	}
	return writeValueJSON(w, answer{OK: true})
}

// postConfiguration delivers an update as daprd does: the whole update,
// POSTed once per key to /configuration/{store}/{key}; anything but 200 is
// a failure.
func (s *Sidecar) postConfiguration(ctx context.Context, store string, u *cconf.Update) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	for key := range u.Items {
		target := "http://" + s.cfg.AppAddr + "/configuration/" + url.PathEscape(store) + "/" + url.PathEscape(key)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := appClient.Do(req)
		if err != nil {
			return fmt.Errorf("send configuration update to the app: %w", err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("error sending configuration item to application, status %d", resp.StatusCode)
		}
	}
	return nil
}

// appClient calls apps on this machine directly, never through a proxy
// the environment names.
var appClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}

// writeValueJSON writes v as a 200 JSON answer.
func writeValueJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return daprerr.Wrap(daprerr.Internal, err, "failed to encode the response")
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
