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
	"github.com/google/uuid"
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
	if tp, ts := d.traceContext(); tp != "" {
		req.Header.Set("traceparent", tp)
		if ts != "" {
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
		bs := s.GetBulkSubscribe()
		sub.Bulk = NewBulk(bs.GetEnabled(), int(bs.GetMaxMessagesCount()), int(bs.GetMaxAwaitDurationMs()))
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
	if tp, _ := d.traceContext(); tp != "" {
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
	ev, err := d.Attributes()
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	req := &runtimev1pb.TopicEventRequest{
		Id:              str(ev[fieldID]),
		Source:          str(ev[fieldSource]),
		Type:            str(ev[fieldType]),
		SpecVersion:     str(ev[fieldSpecVersion]),
		DataContentType: str(ev[fieldDataContentType]),
		Topic:           d.Topic,
		PubsubName:      d.Pubsub,
		Path:            d.Path,
	}
	data, err := eventData(ev)
	if err != nil {
		return nil, fmt.Errorf("event data: %w", err)
	}
	req.Data = data
	ext := map[string]any{}
	for k, v := range ev {
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

// bulkItem is one entry of the batch an HTTP app receives; encodeBulk
// writes Event itself, before the other fields.
type bulkItem struct {
	EntryID     string            `json:"entryId"`
	Event       any               `json:"event,omitempty"`
	Metadata    map[string]string `json:"metadata"`
	ContentType string            `json:"contentType,omitempty"`
}

// bulkBody is the batch an HTTP app receives, in daprd's shape.
type bulkBody struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Topic    string            `json:"topic"`
	Pubsub   string            `json:"pubsubname"`
	Metadata map[string]string `json:"metadata"`
	Entries  []bulkItem        `json:"entries"`
}

// encodeBulk writes the batch an HTTP app receives (bulkBody's JSON) with
// each event's JSON as delivery read it: encoding every event's map again
// (its keys sorted) cost more than the rest of a batch's delivery.
func encodeBulk(b *BulkDelivery) ([]byte, error) {
	head, err := json.Marshal(bulkBody{ID: uuid.NewString(), Type: BulkEventType, Topic: b.Topic, Pubsub: b.Pubsub, Metadata: b.Metadata})
	if err != nil {
		return nil, err
	}
	// head ends in "entries":null}: the entries replace the null.
	head, ok := bytes.CutSuffix(head, []byte("null}"))
	if !ok {
		return nil, fmt.Errorf("a batch's envelope ends in %q", head[max(len(head)-8, 0):])
	}
	size := len(head) + 2
	for i := range b.Entries {
		size += len(b.Entries[i].Data) + len(b.Entries[i].Raw)*4/3 + 160
	}
	buf := make([]byte, 0, size)
	buf = append(buf, head...)
	buf = append(buf, '[')
	for i := range b.Entries {
		e := &b.Entries[i]
		if i > 0 {
			buf = append(buf, ',')
		}
		// The entry's other fields, as bulkItem encodes them.
		item, err := json.Marshal(bulkItem{EntryID: e.EntryID, Metadata: e.Metadata, ContentType: e.ContentType})
		if err != nil {
			return nil, err
		}
		buf = append(buf, `{"event":`...)
		if buf, err = e.appendEvent(buf); err != nil {
			return nil, err
		}
		buf = append(buf, ',')
		buf = append(buf, item[1:]...)
	}
	return append(buf, "]}"...), nil
}

// maxBulkAnswer bounds an HTTP app's answer to a batch.
const maxBulkAnswer = 4 << 20

// DeliverBulk POSTs the batch as JSON to its route, its metadata as
// headers, and reads the app's statuses per entry as daprd does: SUCCESS
// and DROP as they say, RETRY, an empty or unknown status and a missing
// entry retried; 404 drops the batch, any other non-2xx retries it.
func (a *HTTPApp) DeliverBulk(ctx context.Context, b *BulkDelivery) (map[string]Verdict, error) {
	data, err := encodeBulk(b)
	if err != nil {
		return nil, fmt.Errorf("encode the batch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+a.Addr+routePath(b.Path), bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for k, v := range b.Metadata {
		if validHeader(k, v) {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	a.auth(req.Header)
	resp, err := a.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("deliver to the app: %w", err)
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxBulkAnswer))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return allVerdicts(b, Drop), nil
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("the app answered %d: %s", resp.StatusCode, bytes.TrimSpace(ans))
	}
	var statuses struct {
		Statuses []struct {
			EntryID string `json:"entryId"`
			Status  string `json:"status"`
		} `json:"statuses"`
	}
	if err := json.Unmarshal(ans, &statuses); err != nil {
		return nil, fmt.Errorf("the app's answer to a batch is not {\"statuses\": [...]}: %w", err)
	}
	out := make(map[string]Verdict, len(statuses.Statuses))
	for _, s := range statuses.Statuses {
		switch s.Status {
		case "SUCCESS":
			out[s.EntryID] = Success
		case "DROP":
			out[s.EntryID] = Drop
		default:
			out[s.EntryID] = Retry
		}
	}
	return out, nil
}

// allVerdicts gives every entry of b the verdict v.
func allVerdicts(b *BulkDelivery, v Verdict) map[string]Verdict {
	out := make(map[string]Verdict, len(b.Entries))
	for _, e := range b.Entries {
		out[e.EntryID] = v
	}
	return out
}

// DeliverBulk calls OnBulkTopicEvent, and OnBulkTopicEventAlpha1 when the
// app implements only that, as daprd does; an app with neither drops the
// batch. Each entry carries its CloudEvent (or, with rawPayload, the
// message's bytes); the statuses are read per entry like OnTopicEvent's.
func (a *GRPCApp) DeliverBulk(ctx context.Context, b *BulkDelivery) (map[string]Verdict, error) {
	req := &runtimev1pb.TopicEventBulkRequest{
		Id: uuid.NewString(), Metadata: b.Metadata, Topic: b.Topic, PubsubName: b.Pubsub, Type: BulkEventType, Path: b.Path,
		Entries: make([]*runtimev1pb.TopicEventBulkRequestEntry, 0, len(b.Entries)),
	}
	for i := range b.Entries {
		e := &b.Entries[i]
		item := &runtimev1pb.TopicEventBulkRequestEntry{EntryId: e.EntryID, ContentType: e.ContentType, Metadata: e.Metadata}
		if e.Raw != nil {
			item.Event = &runtimev1pb.TopicEventBulkRequestEntry_Bytes{Bytes: e.Raw}
		} else {
			ev, err := TopicEvent(&Delivery{Pubsub: b.Pubsub, Topic: b.Topic, Event: e.Event, Data: e.Data})
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", e.EntryID, err)
			}
			item.Event = &runtimev1pb.TopicEventBulkRequestEntry_CloudEvent{CloudEvent: &runtimev1pb.TopicEventCERequest{
				Id: ev.GetId(), Source: ev.GetSource(), Type: ev.GetType(), SpecVersion: ev.GetSpecVersion(),
				DataContentType: ev.GetDataContentType(), Data: ev.GetData(), Extensions: ev.GetExtensions(),
			}}
		}
		req.Entries = append(req.Entries, item)
	}
	ctx = a.ctx(ctx)
	for k, v := range b.Metadata {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	resp, err := runtimev1pb.NewAppCallbackClient(a.Conn).OnBulkTopicEvent(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		//lint:ignore SA1019 the alpha RPC is what older SDKs serve, and daprd falls back to it
		resp, err = runtimev1pb.NewAppCallbackAlphaClient(a.Conn).OnBulkTopicEventAlpha1(ctx, req)
	}
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return allVerdicts(b, Drop), nil
		}
		return nil, fmt.Errorf("deliver to the app: %w", err)
	}
	out := make(map[string]Verdict, len(resp.GetStatuses()))
	for _, s := range resp.GetStatuses() {
		out[s.GetEntryId()] = VerdictOf(s.GetStatus())
	}
	return out, nil
}
