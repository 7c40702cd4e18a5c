// Package daprapp builds what one Dapr app's sidecars run on, the same way
// for `cove up` (package control: an app with many replicas, a sidecar
// each) and `cove sidecar` (package standalone: one sidecar): the app's
// building blocks over the components in its scope, and each sidecar's
// configuration with Dapr's defaults. A new building block is wired here
// once, not in each host.
//
// It may import spec, resources, the building blocks, the component
// interfaces, metrics and the sidecar; it must not import the control
// plane, the standalone sidecar, the edge, the supervisor or the CLI.
package daprapp

import (
	"fmt"
	"log/slog"
	"net"

	blockactors "github.com/cove-env/cove/internal/blocks/actors"
	blockbind "github.com/cove-env/cove/internal/blocks/bindings"
	blockconf "github.com/cove-env/cove/internal/blocks/configuration"
	blockjobs "github.com/cove-env/cove/internal/blocks/jobs"
	blocklock "github.com/cove-env/cove/internal/blocks/lock"
	blockpubsub "github.com/cove-env/cove/internal/blocks/pubsub"
	blocksecrets "github.com/cove-env/cove/internal/blocks/secrets"
	blockstate "github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cbind "github.com/cove-env/cove/internal/components/bindings"
	cconf "github.com/cove-env/cove/internal/components/configuration"
	clock "github.com/cove-env/cove/internal/components/lock"
	cpubsub "github.com/cove-env/cove/internal/components/pubsub"
	"github.com/cove-env/cove/internal/components/secretstores"
	cstate "github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/metrics"
	"github.com/cove-env/cove/internal/resources"
	"github.com/cove-env/cove/internal/sidecar"
	"github.com/cove-env/cove/internal/spec"
)

// App is what an app's sidecars share, whichever host runs them.
type App struct {
	// AppID is the Dapr app id (required).
	AppID string
	// Namespace is the app's namespace; "" is sidecar.DefaultNamespace for
	// the sidecar, and the app id for the state block's keyPrefix
	// "namespace", as in daprd without NAMESPACE.
	Namespace string
	// Protocol is how the sidecars talk to the app; "" is "http".
	Protocol string
	// Config is the app's Dapr Configuration; nil for none.
	Config *spec.DaprConfiguration
	// Components are the host's loaded components; the blocks take those
	// in the app's scope. Nil has none.
	Components *resources.Set
	// Subscriptions are the environment's declarative subscriptions; the
	// app takes those in its scope.
	Subscriptions []*spec.Subscription
	// Resiliency holds the policies the app applies to its components.
	// Nil applies none.
	Resiliency *resources.Resiliency
	// MaxRequestBodySize and MaxHeaderBytes bound requests to the Dapr
	// APIs; zero is Dapr's default (sidecar.DefaultMaxRequestBodySize,
	// sidecar.DefaultMaxHeaderBytes).
	MaxRequestBodySize int64
	MaxHeaderBytes     int
	// APILogging is the sidecar's own API logging setting (daprd's
	// --enable-api-logging, ACA's dapr.enableApiLogging); nil leaves it to
	// the Configuration.
	APILogging *bool
	// RuntimeVersion is reported by the metadata API.
	RuntimeVersion string
	// Placement is the environment's actor placement; nil (cove sidecar
	// without a placement service) serves no actor API.
	Placement *blockactors.Placement
	// Scheduler keeps and fires the environment's jobs and actor
	// reminders; nil serves no jobs API (daprd's answer without a
	// scheduler), and is refused with a Placement.
	Scheduler *blockjobs.Scheduler
	// Metrics records the sidecars' API calls; nil records nothing.
	Metrics *metrics.Sidecar
	// Logger receives the blocks' log lines; default slog.Default().
	Logger *slog.Logger
}

// Runtime is an app's building blocks, shared by all its sidecars, and
// what its sidecars are configured from.
type Runtime struct {
	app     App
	state   *blockstate.Service
	secrets *blocksecrets.Service
	lock    *blocklock.Service
	pubsub  *blockpubsub.Service // nil without a pub/sub component in scope
	subs    []blockpubsub.Subscription
	conf    *blockconf.Service
	bind    *blockbind.Service
	actors  *blockactors.Runtime // nil without a placement
	jobs    *blockjobs.Service   // nil without a scheduler
}

// New builds app's blocks over the components in its scope: a state block
// (every Dapr app has one, so an unknown store gets Dapr's error) and a
// secrets block when a secret store is in scope, limited by the
// Configuration's secrets.scopes; a lock, a configuration and an output
// bindings block when components of their kinds are in scope.
func New(app App) (*Runtime, error) {
	if app.AppID == "" {
		return nil, fmt.Errorf("daprapp: an app id is required")
	}
	log := app.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Runtime{app: app}
	if app.Scheduler != nil {
		r.jobs = app.Scheduler.App(app.AppID, app.Namespace)
	}
	opts := blockstate.Options{Namespace: app.Namespace, Logger: log}
	if app.Resiliency != nil {
		opts.Outbound = app.Resiliency.StateStoreOutbound(app.AppID)
	}
	r.state = blockstate.NewWithOptions(app.AppID, opts)
	for _, st := range resources.Of[cstate.Store](app.Components, app.AppID) {
		if err := r.state.Add(st.Metadata, st.Instance); err != nil {
			return nil, fmt.Errorf("app %s: state store %s: %w", app.AppID, st.Metadata.Name, err)
		}
	}
	if stores := resources.Of[secretstores.Store](app.Components, app.AppID); len(stores) > 0 {
		r.secrets = blocksecrets.New(app.AppID, blocksecrets.Options{Logger: log, Scopes: resources.SecretScopes(app.Config)})
		for _, st := range stores {
			if err := r.secrets.Add(st.Metadata, st.Instance); err != nil {
				return nil, fmt.Errorf("app %s: secret store %s: %w", app.AppID, st.Metadata.Name, err)
			}
		}
	}
	for _, add := range []func(*slog.Logger) error{r.addLock, r.addActors, r.addPubsub, r.addConfiguration, r.addBindings} {
		if err := add(log); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// addLock builds the lock block over the lock stores in the app's scope.
func (r *Runtime) addLock(log *slog.Logger) error {
	app := r.app
	stores := resources.Of[clock.Store](app.Components, app.AppID)
	if len(stores) == 0 {
		return nil
	}
	opts := blocklock.Options{Logger: log}
	if app.Resiliency != nil {
		opts.Outbound = app.Resiliency.OutboundOf(app.AppID, resources.ComponentLock)
	}
	r.lock = blocklock.New(app.AppID, opts)
	for _, st := range stores {
		if err := r.lock.Add(st.Metadata, st.Instance); err != nil {
			return fmt.Errorf("app %s: %w", app.AppID, err)
		}
	}
	return nil
}

// addConfiguration builds the configuration block over the configuration
// stores in the app's scope; their updates reach the app under the
// stores' inbound policies.
func (r *Runtime) addConfiguration(log *slog.Logger) error {
	app := r.app
	stores := resources.Of[cconf.Store](app.Components, app.AppID)
	if len(stores) == 0 {
		return nil
	}
	opts := blockconf.Options{Logger: log}
	if app.Resiliency != nil {
		opts.Outbound = app.Resiliency.OutboundOf(app.AppID, resources.ComponentConfiguration)
		opts.Inbound = app.Resiliency.InboundOf(app.AppID, resources.ComponentConfiguration)
	}
	r.conf = blockconf.New(app.AppID, opts)
	for _, st := range stores {
		if err := r.conf.Add(st.Metadata, st.Instance); err != nil {
			return fmt.Errorf("app %s: %w", app.AppID, err)
		}
	}
	return nil
}

// addBindings builds the bindings block over the output and input
// bindings in the app's scope.
func (r *Runtime) addBindings(log *slog.Logger) error {
	app := r.app
	outs := resources.Of[cbind.Output](app.Components, app.AppID)
	ins := resources.Of[cbind.Input](app.Components, app.AppID)
	if len(outs) == 0 && len(ins) == 0 {
		return nil
	}
	opts := blockbind.Options{Logger: log, Namespace: app.Namespace}
	if app.Metrics != nil {
		opts.Metrics = app.Metrics
	}
	if app.Resiliency != nil {
		opts.Outbound = app.Resiliency.OutboundOf(app.AppID, resources.ComponentBinding)
		opts.Inbound = app.Resiliency.InboundOf(app.AppID, resources.ComponentBinding)
	}
	r.bind = blockbind.New(app.AppID, opts)
	for _, b := range outs {
		if err := r.bind.Add(b.Metadata, b.Instance); err != nil {
			return fmt.Errorf("app %s: %w", app.AppID, err)
		}
	}
	for _, b := range ins {
		if err := r.bind.AddInput(b.Metadata, b.Instance); err != nil {
			return fmt.Errorf("app %s: %w", app.AppID, err)
		}
	}
	return nil
}

// addActors gives the app the actor runtime when its host has a
// placement, with the state store marked actorStateStore (there may be
// one) for actor state; its reminders are jobs of the scheduler.
func (r *Runtime) addActors(log *slog.Logger) error {
	if r.app.Placement == nil {
		return nil
	}
	var store cstate.Store
	var name string
	for _, st := range resources.Of[cstate.Store](r.app.Components, r.app.AppID) {
		v, _ := st.Metadata.Property("actorStateStore")
		if !components.Truthy(v) {
			continue
		}
		if store != nil {
			return fmt.Errorf("app %s: state stores %s and %s both say actorStateStore \"true\": set it on one only", r.app.AppID, name, st.Metadata.Name)
		}
		store, name = st.Instance, st.Metadata.Name
	}
	// Reminders are jobs of the environment's scheduler, as daprd keeps
	// them in its scheduler service.
	opts := blockactors.Options{Store: store, Logger: log, Scheduler: r.app.Scheduler, Namespace: r.app.Namespace}
	if r.app.Resiliency != nil {
		opts.Policies = r.app.Resiliency.Actors(r.app.AppID)
	}
	rt, err := blockactors.New(r.app.AppID, r.app.Placement, opts)
	if err != nil {
		return fmt.Errorf("app %s: %w", r.app.AppID, err)
	}
	r.actors = rt
	return nil
}

// addPubsub builds the pub/sub block over the brokers in the app's scope,
// and the app's declarative subscriptions.
func (r *Runtime) addPubsub(log *slog.Logger) error {
	app := r.app
	brokers := resources.Of[cpubsub.PubSub](app.Components, app.AppID)
	if len(brokers) == 0 {
		return nil
	}
	opts := blockpubsub.Options{Namespace: app.Namespace, Logger: log}
	if app.Metrics != nil {
		opts.Metrics = app.Metrics
	}
	if app.Resiliency != nil {
		opts.Outbound = app.Resiliency.OutboundOf(app.AppID, resources.ComponentPubsub)
		opts.Inbound = app.Resiliency.InboundOf(app.AppID, resources.ComponentPubsub)
	}
	r.pubsub = blockpubsub.New(app.AppID, opts)
	for _, b := range brokers {
		if err := r.pubsub.Add(b.Metadata, b.Instance); err != nil {
			return fmt.Errorf("app %s: pub/sub %s: %w", app.AppID, b.Metadata.Name, err)
		}
	}
	for _, s := range app.Subscriptions {
		if !s.InScope(app.AppID) {
			continue
		}
		rules := make([]blockpubsub.Rule, 0, len(s.Rules))
		for _, rule := range s.Rules {
			rules = append(rules, blockpubsub.Rule{Match: rule.Match, Path: rule.Path})
		}
		sub, err := blockpubsub.NewSubscription(s.Pubsub, s.Topic, rules, s.Default, s.DeadLetterTopic, s.Metadata, blockpubsub.TypeDeclarative)
		if err != nil {
			return fmt.Errorf("%s:%d: subscription %s: %w", s.File, s.Line, s.Name, err)
		}
		if b := s.Bulk; b != nil {
			sub.Bulk = blockpubsub.NewBulk(true, b.MaxMessagesCount, b.MaxAwaitDurationMs)
		}
		r.subs = append(r.subs, sub)
	}
	return nil
}

// Close releases what the blocks hold of their own; the components stay
// open, as their host owns them.
func (r *Runtime) Close() error {
	return r.state.Close()
}

// Sidecar is what one sidecar of the app has of its own.
type Sidecar struct {
	// AppAddr is host:port of the app (replica), "" when it has no port.
	AppAddr string
	// HTTPListener and GRPCListener are the Dapr APIs' listeners, opened
	// by the host; a nil GRPCListener serves no gRPC API.
	HTTPListener, GRPCListener net.Listener
	// Invoker calls other apps.
	Invoker sidecar.Invoker
	// Logger receives the sidecar's lines, APILogger its API log lines
	// (default Logger).
	Logger, APILogger *slog.Logger
	// APIToken is the app's DAPR_API_TOKEN, "" for none.
	APIToken string
	// OnShutdown runs after POST /v1.0/shutdown was answered.
	OnShutdown func()
}

// SidecarConfig is the configuration of one sidecar of the app, with
// Dapr's defaults where the app says nothing.
func (r *Runtime) SidecarConfig(s Sidecar) sidecar.Config {
	app := r.app
	cfg := sidecar.Config{
		AppID:              app.AppID,
		Namespace:          app.Namespace,
		AppAddr:            s.AppAddr,
		AppProtocol:        app.Protocol,
		HTTPListener:       s.HTTPListener,
		GRPCListener:       s.GRPCListener,
		State:              r.state,
		Invoker:            s.Invoker,
		Logger:             s.Logger,
		OnShutdown:         s.OnShutdown,
		RuntimeVersion:     app.RuntimeVersion,
		MaxHeaderBytes:     app.MaxHeaderBytes,
		MaxRequestBodySize: app.MaxRequestBodySize,
		APIToken:           s.APIToken,
		TraceSampling:      resources.TraceSampling(app.Config),
		APILogging:         sidecar.APILogging(resources.APILogging(app.Config, app.APILogging)),
		APILogger:          s.APILogger,
		Metrics:            app.Metrics,
	}
	if cfg.AppProtocol == "" {
		cfg.AppProtocol = "http"
	}
	if cfg.MaxRequestBodySize == 0 {
		cfg.MaxRequestBodySize = sidecar.DefaultMaxRequestBodySize
	}
	if r.secrets != nil {
		// A nil *Service in the interface would not read as "none".
		cfg.Secrets = r.secrets
	}
	if r.lock != nil {
		cfg.Lock = r.lock
	}
	if r.pubsub != nil {
		cfg.Pubsub = r.pubsub
		cfg.Subscriptions = r.subs
	}
	if r.conf != nil {
		cfg.Configuration = r.conf
	}
	if r.bind != nil {
		cfg.Bindings = r.bind
		if r.bind.HasInputs() {
			cfg.InputBindings = r.bind
		}
	}
	if r.actors != nil {
		cfg.Actors = r.actors
	}
	if r.jobs != nil {
		cfg.Jobs = r.jobs
	}
	return cfg
}
