package standalone

import (
	"context"
	"fmt"
	"log/slog"

	blocksecrets "github.com/cove-env/cove/internal/blocks/secrets"
	blockstate "github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
)

// initComponents initialises the secret stores and state stores among
// comps, secret stores first so the state stores' secretKeyRefs can read
// them. Components of kinds cove does not run yet are skipped with a
// warning, so daprd's usual resources directory (a state store and a
// pub/sub) still starts; a component that fails stops the start unless it
// says ignoreErrors.
func initComponents(ctx context.Context, comps []*spec.Component, appID, baseDir string, log *slog.Logger) ([]resources.Store, []resources.SecretStore, error) {
	var (
		out     []resources.Store
		secrets []resources.SecretStore
		byName  = resources.SecretStores{}
	)
	fail := func(err error) ([]resources.Store, []resources.SecretStore, error) {
		_ = resources.CloseStores(out)
		_ = resources.CloseSecretStores(secrets)
		return nil, nil, err
	}
	for _, secretsFirst := range []bool{true, false} {
		for _, c := range comps {
			if resources.IsSecretStore(c) != secretsFirst {
				continue
			}
			if !secretsFirst && c.Kind() != "state" {
				log.Warn("component kind not supported yet; skipped", slog.String("component", c.Name),
					slog.String("type", c.Type), slog.String("file", c.File))
				continue
			}
			md := components.Metadata{Name: c.Name, AppID: appID, BaseDir: baseDir}
			var err error
			if secretsFirst {
				var st resources.SecretStore
				if st, err = resources.LoadSecretStore(ctx, c, md, byName); err == nil {
					secrets = append(secrets, st)
					byName[c.Name] = st.Store
				}
			} else {
				var st resources.Store
				if st, err = resources.LoadStoreWithSecrets(ctx, c, md, byName); err == nil {
					out = append(out, st)
				}
			}
			if err == nil {
				log.Info("component loaded", slog.String("component", c.Name), slog.String("type", c.Type), slog.String("version", c.Version))
				continue
			}
			err = fmt.Errorf("component %s (%s) in %s: %w", c.Name, c.Type, location(c), err)
			if c.IgnoreErrors {
				log.Warn("component failed to load; ignored because ignoreErrors is true", slog.Any("error", err))
				continue
			}
			return fail(err)
		}
	}
	return out, secrets, nil
}

// secretsService builds the app's secrets block over the loaded secret
// stores, limited by the Configuration's secrets.scopes; nil when there are
// none, so the API answers ERR_SECRET_STORES_NOT_CONFIGURED.
func secretsService(appID string, stores []resources.SecretStore, cfg *spec.DaprConfiguration, log *slog.Logger) (sidecar.SecretsAPI, error) {
	if len(stores) == 0 {
		return nil, nil
	}
	svc := blocksecrets.New(appID, blocksecrets.Options{Logger: log, Scopes: resources.SecretScopes(cfg)})
	for _, st := range stores {
		if err := svc.Add(st.Metadata, st.Store); err != nil {
			return nil, fmt.Errorf("secret store %s: %w", st.Metadata.Name, err)
		}
	}
	return svc, nil
}

func location(c *spec.Component) string {
	if c.TypeLine > 0 {
		return fmt.Sprintf("%s:%d", c.File, c.TypeLine)
	}
	return c.File
}

// stateService builds the app's state block over the loaded stores.
func stateService(appID, namespace string, stores []resources.Store, res *resources.Resiliency, log *slog.Logger) (*blockstate.Service, error) {
	svc := blockstate.NewWithOptions(appID, blockstate.Options{Namespace: namespace, Logger: log, Outbound: res.StateStoreOutbound(appID)})
	for _, st := range stores {
		if err := svc.Add(st.Metadata, st.Store); err != nil {
			return nil, fmt.Errorf("state store %s: %w", st.Metadata.Name, err)
		}
	}
	return svc, nil
}
