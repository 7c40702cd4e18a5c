package pubsub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxSubscriptionsBody bounds an app's GET /dapr/subscribe answer.
const maxSubscriptionsBody = 4 << 20

// HTTPApp is the channel to an HTTP app: events are POSTed to their route.
type HTTPApp struct {
	// Addr is the app's host:port.
	Addr string
	// Client sends the requests; nil uses http.DefaultClient.
	Client *http.Client
	// Token is the app's APP_API_TOKEN, sent as dapr-api-token; "" none.
	Token string
}

func (a *HTTPApp) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return http.DefaultClient
}

// Subscriptions asks the app's GET /dapr/subscribe; an app that answers
// 404 (or anything but 2xx) has none, as daprd reads it.
func (a *HTTPApp) Subscriptions(ctx context.Context) ([]Subscription, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.Addr+"/dapr/subscribe", nil)
	if err != nil {
		return nil, err
	}
	a.auth(req.Header)
	resp, err := a.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the app for its subscriptions: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSubscriptionsBody))
	if err != nil {
		return nil, fmt.Errorf("read the app's subscriptions: %w", err)
	}
	if resp.StatusCode/100 != 2 || len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	return ParseAppSubscriptions(body)
}

func (a *HTTPApp) auth(h http.Header) {
	if a.Token != "" {
		h.Set("dapr-api-token", a.Token)
	}
}

// Deliver POSTs the event as application/cloudevents+json, the broker
// metadata as headers, and reads the answer as daprd does.
func (a *HTTPApp) Deliver(ctx context.Context, d *Delivery) (Verdict, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+a.Addr+routePath(d.Path), bytes.NewReader(d.Data))
	if err != nil {
		return Retry, err
	}
	for k, v := range d.Metadata {
		if validHeader(k, v) {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Content-Type", ContentTypeCloudEvent)
	if tp := traceOf(d.Event); tp != "" {
		req.Header.Set("traceparent", tp)
		if ts, _ := d.Event[fieldTraceState].(string); ts != "" {
			req.Header.Set("tracestate", ts)
		}
	}
	a.auth(req.Header)
	resp, err := a.client().Do(req)
	if err != nil {
		return Retry, fmt.Errorf("deliver to the app: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return verdictOf(body), nil
	case resp.StatusCode == http.StatusNotFound:
		return Drop, nil
	}
	return Retry, fmt.Errorf("the app answered %d: %s", resp.StatusCode, bytes.TrimSpace(body))
}

// verdictOf reads a 2xx body: empty or not JSON is success; the status
// field decides otherwise, an unknown one retries.
func verdictOf(body []byte) Verdict {
	var ans struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return Success
	}
	switch ans.Status {
	case "", "SUCCESS":
		return Success
	case "DROP":
		return Drop
	}
	return Retry
}

// traceOf is the event's traceparent, else its traceid.
func traceOf(ev map[string]any) string {
	if tp, ok := ev[fieldTraceParent].(string); ok && tp != "" {
		return tp
	}
	tid, _ := ev[fieldTraceID].(string)
	return tid
}

// validHeader keeps metadata that can travel as an HTTP header.
func validHeader(k, v string) bool {
	if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n") {
		return false
	}
	return !strings.EqualFold(k, "content-length") && !strings.EqualFold(k, "host")
}

// GRPCApp is the channel to a gRPC app: its AppCallback service.
type GRPCApp struct {
	Conn grpc.ClientConnInterface
	// Token is the app's APP_API_TOKEN, sent as dapr-api-token; "" none.
	Token string
}

func (a *GRPCApp) ctx(ctx context.Context) context.Context {
	if a.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "dapr-api-token", a.Token)
}

// Subscriptions calls ListTopicSubscriptions; an app that does not
// implement it has none.
func (a *GRPCApp) Subscriptions(ctx context.Context) ([]Subscription, error) {
	resp, err := runtimev1pb.NewAppCallbackClient(a.Conn).ListTopicSubscriptions(a.ctx(ctx), &emptypb.Empty{})
	if status.Code(err) == codes.Unimplemented {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ask the app for its subscriptions: %w", err)
	}
	var out []Subscription
	for _, s := range resp.GetSubscriptions() {
		if s.GetPubsubName() == "" || s.GetTopic() == "" {
			continue
		}
		var rules []Rule
		for _, r := range s.GetRoutes().GetRules() {
			rules = append(rules, Rule{Match: r.GetMatch(), Path: r.GetPath()})
		}
		sub, err := NewSubscription(s.GetPubsubName(), s.GetTopic(), rules, s.GetRoutes().GetDefault(),
			s.GetDeadLetterTopic(), s.GetMetadata(), TypeProgrammatic)
		if err != nil {
			return nil, fmt.Errorf("subscription to %s/%s: %w", s.GetPubsubName(), s.GetTopic(), err)
		}
		if len(sub.Rules) == 0 {
			// A gRPC app's events go to OnTopicEvent without a path.
			sub.Rules = []Rule{{}}
		}
		out = append(out, sub)
	}
	return out, nil
}

// Deliver calls OnTopicEvent with the event's attributes, as daprd fills
// TopicEventRequest, and maps the answer: SUCCESS acks, DROP drops, RETRY
// and errors retry (Unimplemented drops, as daprd reads it).
func (a *GRPCApp) Deliver(ctx context.Context, d *Delivery) (Verdict, error) {
	req, err := TopicEvent(d)
	if err != nil {
		return Retry, err
	}
	ctx = a.ctx(ctx)
	if tp := traceOf(d.Event); tp != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
	}
	resp, err := runtimev1pb.NewAppCallbackClient(a.Conn).OnTopicEvent(ctx, req)
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return Drop, nil
		}
		return Retry, fmt.Errorf("deliver to the app: %w", err)
	}
	return VerdictOf(resp.GetStatus()), nil
}

// VerdictOf reads a gRPC subscriber's answer: SUCCESS and DROP as they
// say, anything else (RETRY, an unknown value) a retry.
func VerdictOf(st runtimev1pb.TopicEventResponse_TopicEventResponseStatus) Verdict {
	switch st {
	case runtimev1pb.TopicEventResponse_SUCCESS:
		return Success
	case runtimev1pb.TopicEventResponse_DROP:
		return Drop
	}
	return Retry
}

// TopicEvent is d as gRPC subscribers receive it (OnTopicEvent, streaming
// subscriptions): the CloudEvent's attributes in their fields, its data as
// bytes, the other attributes as extensions.
func TopicEvent(d *Delivery) (*runtimev1pb.TopicEventRequest, error) {
	req := &runtimev1pb.TopicEventRequest{
		Id:              str(d.Event[fieldID]),
		Source:          str(d.Event[fieldSource]),
		Type:            str(d.Event[fieldType]),
		SpecVersion:     str(d.Event[fieldSpecVersion]),
		DataContentType: str(d.Event[fieldDataContentType]),
		Topic:           d.Topic,
		PubsubName:      d.Pubsub,
		Path:            d.Path,
	}
	data, err := eventData(d.Event)
	if err != nil {
		return nil, fmt.Errorf("event data: %w", err)
	}
	req.Data = data
	ext := map[string]any{}
	for k, v := range d.Event {
		switch k {
		case fieldID, fieldSource, fieldType, fieldSpecVersion, fieldDataContentType, fieldTopic, fieldPubsub,
			fieldData, fieldDataBase64:
			continue
		}
		ext[k] = jsonValue(v)
	}
	if req.Extensions, err = structpb.NewStruct(ext); err != nil {
		return nil, fmt.Errorf("event extensions: %w", err)
	}
	return req, nil
}

// eventData is the event's data as bytes: data_base64 decoded, a string
// as is, anything else as JSON.
func eventData(ev map[string]any) ([]byte, error) {
	if b64, ok := ev[fieldDataBase64].(string); ok {
		return base64.StdEncoding.DecodeString(b64)
	}
	switch v := ev[fieldData].(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	default:
		return json.Marshal(v)
	}
}

// jsonValue turns decoded JSON numbers into float64 for structpb.
func jsonValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
