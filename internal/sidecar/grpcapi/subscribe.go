package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/pubsub"
)

// SubscribeTopicEventsAlpha1 is a streaming subscription, what the Go
// SDK's Subscribe and SubscribeWithHandler open: the client names the
// pub/sub and topic in its first message; the sidecar answers with an
// initial response, then sends each event and waits for the client's
// EventProcessed with the event's id. The subscription uses the app's
// consumer group, so it shares the topic with the app's other subscribers,
// and ends with the stream.
func (a *api) SubscribeTopicEventsAlpha1(stream runtimev1pb.Dapr_SubscribeTopicEventsAlpha1Server) error {
	// The first message is awaited apart, so a client that never sends it
	// does not hold up the sidecar's stop.
	type recvd struct {
		m   *runtimev1pb.SubscribeTopicEventsRequestAlpha1
		err error
	}
	firstCh := make(chan recvd, 1)
	go func() {
		m, err := stream.Recv()
		firstCh <- recvd{m, err}
	}()
	var first recvd
	select {
	case first = <-firstCh:
	case <-a.stopping.Done():
		return status.Error(codes.Unavailable, "the sidecar is stopping")
	}
	if first.err != nil {
		return first.err
	}
	req := first.m.GetInitialRequest()
	switch {
	case req == nil:
		return status.Error(codes.InvalidArgument, "initial request is required")
	case req.GetPubsubName() == "":
		return status.Error(codes.InvalidArgument, "pubsubName is required")
	case req.GetTopic() == "":
		return status.Error(codes.InvalidArgument, "topic is required")
	}
	ps, err := a.pubsubAPI(req.GetPubsubName())
	if err != nil {
		return err
	}
	if err := ps.Check(req.GetPubsubName(), req.GetTopic()); err != nil {
		return err
	}
	sub, err := pubsub.NewSubscription(req.GetPubsubName(), req.GetTopic(), nil, "/", req.GetDeadLetterTopic(),
		req.GetMetadata(), pubsub.TypeStreaming)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ch := &streamChannel{stream: stream, pending: map[string]chan *runtimev1pb.TopicEventResponse{}, done: make(chan struct{})}
	subscriber, err := ps.Subscribe(stream.Context(), ch, []pubsub.Subscription{sub})
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	defer subscriber.Stop()
	if len(subscriber.Subscriptions()) == 0 {
		return status.Errorf(codes.PermissionDenied, "topic %s is not allowed for app id %s", req.GetTopic(), a.appID)
	}
	err = ch.send(&runtimev1pb.SubscribeTopicEventsResponseAlpha1{
		SubscribeTopicEventsResponseType: &runtimev1pb.SubscribeTopicEventsResponseAlpha1_InitialResponse{
			InitialResponse: &runtimev1pb.SubscribeTopicEventsResponseInitialAlpha1{},
		},
	})
	if err != nil {
		close(ch.done)
		return err
	}
	err = a.untilStreamEnds(ch.receive)
	close(ch.done) // deliveries waiting for an answer give up: the broker redelivers
	return err
}

// untilStreamEnds runs receive, a stream's reading of its client's
// messages, until the stream or the sidecar ends; a client ending it is
// no error.
func (a *api) untilStreamEnds(receive func() error) error {
	recvErr := make(chan error, 1)
	go func() { recvErr <- receive() }()
	var err error
	select {
	case err = <-recvErr:
	case <-a.stopping.Done():
		err = status.Error(codes.Unavailable, "the sidecar is stopping")
	}
	if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// streamChannel delivers a streaming subscription's events to its client.
type streamChannel struct {
	stream runtimev1pb.Dapr_SubscribeTopicEventsAlpha1Server
	sendMu sync.Mutex // one Send at a time, as gRPC requires

	mu      sync.Mutex
	pending map[string]chan *runtimev1pb.TopicEventResponse // by event id
	done    chan struct{}                                   // closed when the stream ends
}

func (c *streamChannel) send(m *runtimev1pb.SubscribeTopicEventsResponseAlpha1) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(m)
}

// Deliver sends the event and waits for the client's answer to its id.
func (c *streamChannel) Deliver(ctx context.Context, d *pubsub.Delivery) (pubsub.Verdict, error) {
	ev, err := pubsub.TopicEvent(d)
	if err != nil {
		return pubsub.Retry, err
	}
	answer := make(chan *runtimev1pb.TopicEventResponse, 1)
	c.mu.Lock()
	if _, busy := c.pending[ev.GetId()]; busy {
		c.mu.Unlock()
		return pubsub.Retry, fmt.Errorf("event %s is already waiting for the subscriber's answer", ev.GetId())
	}
	c.pending[ev.GetId()] = answer
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, ev.GetId())
		c.mu.Unlock()
	}()
	err = c.send(&runtimev1pb.SubscribeTopicEventsResponseAlpha1{
		SubscribeTopicEventsResponseType: &runtimev1pb.SubscribeTopicEventsResponseAlpha1_EventMessage{EventMessage: ev},
	})
	if err != nil {
		return pubsub.Retry, fmt.Errorf("send to the streaming subscriber: %w", err)
	}
	select {
	case resp := <-answer:
		return pubsub.VerdictOf(resp.GetStatus()), nil
	case <-c.done:
		return pubsub.Retry, errors.New("the streaming subscription ended before the event was answered")
	case <-ctx.Done():
		return pubsub.Retry, ctx.Err()
	}
}

// receive reads the client's answers until the stream ends.
func (c *streamChannel) receive() error {
	for {
		m, err := c.stream.Recv()
		if err != nil {
			return err
		}
		p := m.GetEventProcessed()
		if p == nil {
			return status.Error(codes.InvalidArgument, "duplicate initial request received")
		}
		c.mu.Lock()
		answer := c.pending[p.GetId()]
		c.mu.Unlock()
		if answer != nil {
			select {
			case answer <- p.GetStatus():
			default: // answered twice: the first answer stands
			}
		}
	}
}
