package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/bindings"
	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/blocks/pubsub"
)

// subscriptionPoll is how often the sidecar looks for its app to be up
// before it subscribes.
const subscriptionPoll = 100 * time.Millisecond

// subscriber is the app's running subscriptions: started once the app is
// up, stopped by Close before the APIs stop.
type subscriber struct {
	cancel context.CancelFunc
	done   chan struct{}
	sub    *pubsub.Subscriber // set once subscribed; read under Sidecar.subMu
	reader *bindings.Reader   // the input bindings read; set as sub is
	conn   *grpc.ClientConn   // the channel to a gRPC app; nil for HTTP
	// detachJobs stops the app's jobs coming here; nil until attached.
	detachJobs func()
}

// startSubscriptions waits, in the background, for the app to accept
// connections, asks it for its subscriptions, and subscribes them with the
// declarative ones; then it reads the input bindings the app takes, and
// takes its share of the app's jobs. An app without a port gets no events.
func (s *Sidecar) startSubscriptions() {
	if (s.cfg.Pubsub == nil && s.cfg.InputBindings == nil && s.cfg.Jobs == nil) || s.cfg.AppAddr == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sb := &subscriber{cancel: cancel, done: make(chan struct{})}
	s.subMu.Lock()
	s.subs = sb
	s.subMu.Unlock()
	go func() {
		defer close(sb.done)
		if err := s.subscribe(ctx, sb); err != nil && ctx.Err() == nil {
			s.log.Error("app events not started", slog.Any("error", err))
		}
	}()
}

func (s *Sidecar) subscribe(ctx context.Context, sb *subscriber) error {
	t := time.NewTicker(subscriptionPoll)
	defer t.Stop()
	for !s.AppReady(ctx) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	var (
		ch   appChannel
		bind bindings.AppChannel
		job  jobs.Target
	)
	if s.cfg.AppProtocol == invoke.ProtocolGRPC {
		conn, err := grpc.NewClient(s.cfg.AppAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("connect to the app: %w", err)
		}
		sb.conn = conn
		ch = &pubsub.GRPCApp{Conn: conn}
		bind = &bindings.GRPCApp{Conn: conn}
		job = &jobs.GRPCApp{Conn: conn}
	} else {
		client := &http.Client{Transport: invoke.NewTransport()}
		ch = &pubsub.HTTPApp{Addr: s.cfg.AppAddr, Client: client}
		bind = &bindings.HTTPApp{Addr: s.cfg.AppAddr, Client: client}
		job = &jobs.HTTPApp{Addr: s.cfg.AppAddr, Client: client}
	}
	if s.cfg.Jobs != nil {
		detach := s.cfg.Jobs.Attach(gatedJobs{job, s, ctx})
		s.subMu.Lock()
		sb.detachJobs = detach
		s.subMu.Unlock()
	}
	if s.cfg.Pubsub != nil {
		if err := s.subscribePubsub(ctx, sb, ch); err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.log.Error("pub/sub subscriptions not started", slog.Any("error", err))
		}
	}
	if s.cfg.InputBindings != nil {
		r, err := s.cfg.InputBindings.Read(ctx, gatedBindings{bind, s})
		if err != nil {
			return err
		}
		s.subMu.Lock()
		sb.reader = r
		s.subMu.Unlock()
		for _, name := range r.Names() {
			s.log.Info("reading input binding", slog.String("binding", name))
		}
	}
	return nil
}

// subscribePubsub subscribes the app's subscriptions and the declarative
// ones.
func (s *Sidecar) subscribePubsub(ctx context.Context, sb *subscriber, ch appChannel) error {
	subs := s.cfg.Subscriptions
	programmatic, err := ch.Subscriptions(ctx)
	if err != nil {
		// daprd goes on with the declarative ones.
		s.log.Warn("the app's subscriptions could not be read", slog.Any("error", err))
	}
	subs = mergeSubscriptions(programmatic, subs)
	if len(subs) == 0 {
		return nil
	}
	sub, err := s.cfg.Pubsub.Subscribe(ctx, gatedApp{ch, s}, subs)
	if err != nil {
		return err
	}
	s.subMu.Lock()
	sb.sub = sub
	s.subMu.Unlock()
	for _, sc := range sub.Subscriptions() {
		s.log.Info("subscribed", slog.String("pubsub", sc.Pubsub), slog.String("topic", sc.Topic), slog.String("type", sc.Type))
	}
	return nil
}

// appChannel is the way to the app: its subscriptions and deliveries,
// one by one and in batches.
type appChannel interface {
	pubsub.BulkAppChannel
	Subscriptions(context.Context) ([]pubsub.Subscription, error)
}

// gatedApp holds deliveries while the app is unhealthy.
type gatedApp struct {
	appChannel
	s *Sidecar
}

func (g gatedApp) Deliver(ctx context.Context, d *pubsub.Delivery) (pubsub.Verdict, error) {
	if err := g.s.waitAppHealthy(ctx); err != nil {
		return pubsub.Retry, err
	}
	return g.appChannel.Deliver(ctx, d)
}

func (g gatedApp) DeliverBulk(ctx context.Context, b *pubsub.BulkDelivery) (map[string]pubsub.Verdict, error) {
	if err := g.s.waitAppHealthy(ctx); err != nil {
		return nil, err
	}
	return g.appChannel.DeliverBulk(ctx, b)
}

// gatedBindings holds input binding events while the app is unhealthy.
type gatedBindings struct {
	bindings.AppChannel
	s *Sidecar
}

func (g gatedBindings) Deliver(ctx context.Context, ev *bindings.Event) (*bindings.Answer, error) {
	if err := g.s.waitAppHealthy(ctx); err != nil {
		return nil, err
	}
	return g.AppChannel.Deliver(ctx, ev)
}

// gatedJobs holds job deliveries while the app is unhealthy; one held
// when the sidecar stops its app's events goes back to the scheduler
// undelivered, for another replica.
type gatedJobs struct {
	jobs.Target
	s    *Sidecar
	life context.Context // ends when the app's events stop
}

func (g gatedJobs) DeliverJob(ctx context.Context, name string, data *anypb.Any) error {
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.life, cancel)
	err := g.s.waitAppHealthy(wctx)
	stop()
	cancel()
	if err != nil {
		return fmt.Errorf("%w: %w", jobs.ErrNotTaken, err)
	}
	return g.Target.DeliverJob(ctx, name, data)
}

// SetAppHealthy tells the sidecar whether its app is healthy (ready by its
// probes). Deliveries of pub/sub and input binding events wait while it is not, so an app
// that is restarting or failing its probes is not sent events it cannot
// take; the broker keeps them meanwhile. A sidecar starts out healthy.
//
// An app that stops being healthy leaves the actor placement (its actors
// go to other replicas) and joins it again, its /dapr/config read anew,
// once healthy.
func (s *Sidecar) SetAppHealthy(ok bool) {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if ok == (s.unhealthy == nil) {
		return
	}
	if ok {
		close(s.unhealthy)
		s.unhealthy = nil
		s.startActorHosting()
		return
	}
	s.unhealthy = make(chan struct{})
	s.actorMu.Lock()
	var h *actorHosting
	if s.hosting != nil && !s.hosting.stream {
		h = s.detachActorsLocked()
	}
	s.actorMu.Unlock()
	if h != nil {
		go h.end(context.Background())
	}
}

// waitAppHealthy returns once the app is healthy, or with ctx's error.
func (s *Sidecar) waitAppHealthy(ctx context.Context) error {
	s.healthMu.Lock()
	wait := s.unhealthy
	s.healthMu.Unlock()
	if wait == nil {
		return nil
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StopSubscriptions stops taking pub/sub and input binding events, and waits for deliveries
// in progress; the host calls it before it stops the app, so events go to
// the group's other subscribers rather than to an app shutting down. Close
// does it too.
func (s *Sidecar) StopSubscriptions() { s.stopSubscriptions() }

// mergeSubscriptions keeps one subscription per pub/sub and topic, the
// app's own before a declarative one.
func mergeSubscriptions(lists ...[]pubsub.Subscription) []pubsub.Subscription {
	type key struct{ pubsub, topic string }
	seen := map[key]bool{}
	var out []pubsub.Subscription
	for _, l := range lists {
		for _, sc := range l {
			k := key{sc.Pubsub, sc.Topic}
			if !seen[k] {
				seen[k] = true
				out = append(out, sc)
			}
		}
	}
	return out
}

// stopSubscriptions ends deliveries and waits for those in progress, so a
// closing sidecar takes no more messages.
func (s *Sidecar) stopSubscriptions() {
	s.subMu.Lock()
	sb := s.subs
	s.subs = nil
	s.subMu.Unlock()
	if sb == nil {
		return
	}
	sb.cancel()
	<-sb.done
	if sb.detachJobs != nil {
		sb.detachJobs()
	}
	sb.sub.Stop()
	sb.reader.Stop()
	if sb.conn != nil {
		_ = sb.conn.Close()
	}
}

// subscriptions lists the running subscriptions for the metadata API.
func (s *Sidecar) subscriptions() []pubsub.Subscription {
	var out []pubsub.Subscription
	s.subMu.Lock()
	if s.subs != nil {
		out = s.subs.sub.Subscriptions()
	}
	s.subMu.Unlock()
	if s.cfg.Pubsub != nil {
		out = append(slices.Clip(out), s.cfg.Pubsub.Streaming()...)
	}
	return out
}
