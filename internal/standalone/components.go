package standalone

import (
	"context"
	"fmt"
	"log/slog"

	blockstate "github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/spec"
)

// initComponents initialises the state stores among comps. Components of
// kinds cove does not run yet are skipped with a warning, so daprd's usual
// resources directory (a state store and a pub/sub) still starts; a
// component that fails stops the start unless it says ignoreErrors.
func initComponents(ctx context.Context, comps []*spec.Component, appID, baseDir string, log *slog.Logger) ([]resources.Store, error) {
	var out []resources.Store
	for _, c := range comps {
		if c.Kind() != "state" {
			log.Warn("component kind not supported yet; skipped", slog.String("component", c.Name),
				slog.String("type", c.Type), slog.String("file", c.File))
			continue
		}
		st, err := resources.LoadStore(ctx, c, components.Metadata{Name: c.Name, AppID: appID, BaseDir: baseDir})
		if err == nil {
			out = append(out, st)
			log.Info("component loaded", slog.String("component", c.Name), slog.String("type", c.Type), slog.String("version", c.Version))
			continue
		}
		err = fmt.Errorf("component %s (%s) in %s: %w", c.Name, c.Type, location(c), err)
		if c.IgnoreErrors {
			log.Warn("component failed to load; ignored because ignoreErrors is true", slog.Any("error", err))
			continue
		}
		_ = resources.CloseStores(out)
		return nil, err
	}
	return out, nil
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
