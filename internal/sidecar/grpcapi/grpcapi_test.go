package grpcapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/cove-env/cove/internal/daprerr"
)

func TestSDKInvokesHTTPAndGRPCApps(t *testing.T) {
	s := newStack(t)
	c := s.sdk(t)
	content := &dapr.DataContent{Data: []byte(`{"n":1}`), ContentType: "application/json"}

	t.Run("http app", func(t *testing.T) {
		out, err := c.InvokeMethodWithContent(t.Context(), "orders", "orders/1?x=1&y=a%20b", "put", content)
		if err != nil {
			t.Fatal(err)
		}
		var got seenHTTP
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("app answer %q: %v", out, err)
		}
		want := seenHTTP{Method: "PUT", Path: "/orders/1", Query: "x=1&y=a%20b", ContentType: "application/json", Body: `{"n":1}`}
		if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Header" }, cmp.Ignore())); diff != "" {
			t.Errorf("the HTTP app saw (-want +got):\n%s", diff)
		}
		if got.Header["Dapr-Caller-App-Id"] != "frontend" || got.Header["Dapr-Callee-App-Id"] != "orders" {
			t.Errorf("identity headers %v", got.Header)
		}
	})
	t.Run("grpc app", func(t *testing.T) {
		out, err := c.InvokeMethodWithContent(t.Context(), "greeter", "echo?lang=fr", "post", content)
		if err != nil {
			t.Fatal(err)
		}
		var got seenGRPC
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("app answer %q: %v", out, err)
		}
		want := seenGRPC{Data: `{"n":1}`, ContentType: "application/json", Verb: "POST", Query: "lang=fr", Caller: "frontend"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the gRPC app saw (-want +got):\n%s", diff)
		}
	})
	t.Run("grpc app error", func(t *testing.T) {
		_, err := c.InvokeMethodWithContent(t.Context(), "greeter", "fail", "post", content)
		wantStatus(t, err, codes.NotFound, "no such order")
	})
}

// TestInvokeServiceMethodWithQuery checks that a query string written into
// the method (as the JavaScript SDK's gRPC client sends it) reaches an HTTP
// app as its query, ahead of HTTPExtension's, and the path as it was sent.
func TestInvokeServiceMethodWithQuery(t *testing.T) {
	s := newStack(t)
	client := runtimev1pb.NewDaprClient(s.conn(t))
	tests := []struct {
		name, method, querystring string
		wantPath, wantQuery       string
	}{
		{name: "query in the method", method: "api/items/7?x=1", wantPath: "/api/items/7", wantQuery: "x=1"},
		{name: "both queries", method: "api/items/7?x=1", querystring: "y=2", wantPath: "/api/items/7", wantQuery: "x=1&y=2"},
		{name: "extension only", method: "api/items/7", querystring: "y=a%20b", wantPath: "/api/items/7", wantQuery: "y=a%20b"},
		{name: "empty query in the method", method: "api/items/?", querystring: "y=2", wantPath: "/api/items/", wantQuery: "y=2"},
		{name: "trailing slash and doubled slash", method: "a//b/?x=1", wantPath: "/a//b/", wantQuery: "x=1"},
		{name: "dot segments", method: "a/../../b?x=1", wantPath: "/b", wantQuery: "x=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.InvokeService(t.Context(), &runtimev1pb.InvokeServiceRequest{
				Id: "orders",
				Message: &commonv1pb.InvokeRequest{
					Method:        tc.method,
					HttpExtension: &commonv1pb.HTTPExtension{Verb: commonv1pb.HTTPExtension_GET, Querystring: tc.querystring},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			var got seenHTTP
			if err := json.Unmarshal(resp.GetData().GetValue(), &got); err != nil {
				t.Fatalf("app answer %q: %v", resp.GetData().GetValue(), err)
			}
			if got.Path != tc.wantPath || got.Query != tc.wantQuery {
				t.Errorf("the app saw path %q query %q, want %q and %q", got.Path, got.Query, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

func TestInvokeServiceHTTPStatus(t *testing.T) {
	s := newStack(t)
	client := runtimev1pb.NewDaprClient(s.conn(t))
	tests := []struct {
		name     string
		status   string
		wantCode codes.Code
	}{
		{name: "ok", status: "201", wantCode: codes.OK},
		{name: "not found", status: "404", wantCode: codes.NotFound},
		{name: "bad request is internal, as in daprd", status: "400", wantCode: codes.Internal},
		{name: "server error is unknown", status: "500", wantCode: codes.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "x-reply-status", tc.status)
			var header metadata.MD
			resp, err := client.InvokeService(ctx, &runtimev1pb.InvokeServiceRequest{
				Id: "orders",
				Message: &commonv1pb.InvokeRequest{
					Method:        "items",
					HttpExtension: &commonv1pb.HTTPExtension{Verb: commonv1pb.HTTPExtension_GET},
				},
			}, grpc.Header(&header))
			if got := header.Get("dapr-http-status"); len(got) != 1 || got[0] != tc.status {
				t.Errorf("dapr-http-status %v, want %s", got, tc.status)
			}
			if tc.wantCode == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetContentType() != "application/json" || !strings.Contains(string(resp.GetData().GetValue()), `"method":"GET"`) {
					t.Errorf("response %q (%s)", resp.GetData().GetValue(), resp.GetContentType())
				}
				if got := header.Get("x-app"); len(got) != 1 || got[0] != "orders" {
					t.Errorf("app header x-app = %v", got)
				}
				if got := header.Get("dapr-content-type"); len(got) != 1 {
					t.Errorf("content type not carried as dapr-content-type: %v", header)
				}
				return
			}
			st := wantStatus(t, err, tc.wantCode, http.StatusText(mustAtoi(t, tc.status)))
			if info := errorInfo(st.Details()); info == nil || info.GetMetadata()["http.code"] != tc.status {
				t.Errorf("error details %v lack the HTTP code", st.Details())
			}
		})
	}
}

func TestHTTPCallerReachesGRPCApp(t *testing.T) {
	s := newStack(t)
	tests := []struct {
		name       string
		method     string
		wantStatus int
		wantBody   string
	}{
		{name: "echo", method: "echo", wantStatus: http.StatusOK, wantBody: `"verb":"PATCH"`},
		{name: "app error", method: "fail", wantStatus: http.StatusNotFound, wantBody: `"message":"no such order"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch,
				s.httpURL+"/v1.0/invoke/greeter/method/"+tc.method+"?a=1", strings.NewReader("hi"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/plain")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("got %d %s, want %d with %s", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			if tc.wantStatus == http.StatusOK && !strings.Contains(string(body), `"query":"a=1"`) {
				t.Errorf("query string lost: %s", body)
			}
		})
	}
}

func TestSDKState(t *testing.T) {
	s := newStack(t)
	c := s.sdk(t)
	ctx := t.Context()
	prefix := "sdk-" + t.Name() + "-"

	if err := c.SaveState(ctx, storeName, prefix+"a", []byte("raw\x00bytes"), nil); err != nil {
		t.Fatal(err)
	}
	item, err := c.GetState(ctx, storeName, prefix+"a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(item.Value) != "raw\x00bytes" || item.Etag == "" {
		t.Fatalf("GetState = %q etag %q", item.Value, item.Etag)
	}

	// A stale ETag is refused with Aborted; the current one is accepted.
	err = c.SaveStateWithETag(ctx, storeName, prefix+"a", []byte("v2"), item.Etag, nil)
	if err != nil {
		t.Fatalf("save with the current etag: %v", err)
	}
	err = c.SaveStateWithETag(ctx, storeName, prefix+"a", []byte("v3"), item.Etag, nil)
	wantStatus(t, err, codes.Aborted, "failed saving state in state store "+storeName)
	err = c.DeleteStateWithETag(ctx, storeName, prefix+"a", &dapr.ETag{Value: item.Etag}, nil, nil)
	wantStatus(t, err, codes.Aborted, "failed deleting state with key "+prefix+"a")
	cur, err := c.GetState(ctx, storeName, prefix+"a", nil)
	if err != nil || string(cur.Value) != "v2" {
		t.Fatalf("after the refused writes: %q, %v", cur.Value, err)
	}
	if err := c.DeleteStateWithETag(ctx, storeName, prefix+"a", &dapr.ETag{Value: cur.Etag}, nil, nil); err != nil {
		t.Fatalf("delete with the current etag: %v", err)
	}
	gone, err := c.GetState(ctx, storeName, prefix+"a", nil)
	if err != nil || gone.Value != nil || gone.Etag != "" {
		t.Fatalf("deleted key reads %q etag %q, %v", gone.Value, gone.Etag, err)
	}

	// A transaction, then a bulk read of what it left.
	err = c.ExecuteStateTransaction(ctx, storeName, nil, []*dapr.StateOperation{
		{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{Key: prefix + "b", Value: []byte("B")}},
		{Type: dapr.StateOperationTypeUpsert, Item: &dapr.SetStateItem{Key: prefix + "c", Value: []byte(`{"c":1}`)}},
		{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{Key: prefix + "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := c.GetBulkState(ctx, storeName, []string{prefix + "b", prefix + "c"}, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range bulk {
		got[it.Key] = string(it.Value)
		if it.Key == prefix+"c" && it.Etag == "" {
			t.Error("bulk item without etag")
		}
	}
	if diff := cmp.Diff(map[string]string{prefix + "b": "", prefix + "c": `{"c":1}`}, got); diff != "" {
		t.Errorf("bulk state (-want +got):\n%s", diff)
	}

	if err := c.DeleteBulkState(ctx, storeName, []string{prefix + "c"}, nil); err != nil {
		t.Fatal(err)
	}
	if it, _ := c.GetState(ctx, storeName, prefix+"c", nil); it == nil || it.Value != nil {
		t.Errorf("bulk-deleted key still there: %v", it)
	}
}

func TestStateSavedOverHTTPReadsBackOverGRPC(t *testing.T) {
	s := newStack(t)
	c := s.sdk(t)
	key := "cross-" + t.Name()
	body := `[{"key":"` + key + `","value":{"name":"ada","n":1.50,"tags":["x"]}}]`
	resp, err := http.Post(s.httpURL+"/v1.0/state/"+storeName, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("HTTP save: %d", resp.StatusCode)
	}
	resp, err = http.Get(s.httpURL + "/v1.0/state/" + storeName + "/" + key)
	if err != nil {
		t.Fatal(err)
	}
	overHTTP, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	item, err := c.GetState(t.Context(), storeName, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(item.Value) != string(overHTTP) || resp.Header.Get("ETag") != item.Etag {
		t.Errorf("gRPC read %q etag %q; HTTP read %q etag %q", item.Value, item.Etag, overHTTP, resp.Header.Get("ETag"))
	}

	// JSON saved over gRPC with contentType application/json is stored as
	// the HTTP API stores it.
	err = c.SaveState(t.Context(), storeName, key+"-json", []byte(`{"tags":["x"],"n":1.50,  "name":"ada"}`),
		map[string]string{"contentType": "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.GetState(t.Context(), storeName, key+"-json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Value) != string(overHTTP) {
		t.Errorf("JSON saved over gRPC reads %q, over HTTP %q", again.Value, overHTTP)
	}
}

func TestErrors(t *testing.T) {
	s := newStack(t)
	c := s.sdk(t)
	client := runtimev1pb.NewDaprClient(s.conn(t))
	tests := []struct {
		name     string
		call     func() error
		code     codes.Code
		msg      string
		daprCode string
	}{
		{
			name: "unknown app",
			call: func() error {
				_, err := c.InvokeMethod(t.Context(), "nope", "x", "get")
				return err
			},
			code: codes.Internal, msg: "failed to invoke, id: nope, err: couldn't find service: nope", daprCode: "ERR_DIRECT_INVOKE",
		},
		{
			name: "unknown store",
			call: func() error {
				_, err := c.GetState(t.Context(), "nostore", "k", nil)
				return err
			},
			code: codes.InvalidArgument, msg: "state store nostore is not found", daprCode: "ERR_STATE_STORE_NOT_FOUND",
		},
		{
			name: "empty key",
			call: func() error { return c.SaveState(t.Context(), storeName, "", []byte("v"), nil) },
			code: codes.InvalidArgument, daprCode: "ERR_MALFORMED_REQUEST",
		},
		{
			name: "unsupported transaction operation",
			call: func() error {
				_, err := client.ExecuteStateTransaction(t.Context(), &runtimev1pb.ExecuteStateTransactionRequest{
					StoreName:  storeName,
					Operations: []*runtimev1pb.TransactionalStateOperation{{OperationType: "merge", Request: &commonv1pb.StateItem{Key: "k"}}},
				})
				return err
			},
			// The catalog's code; daprd's gRPC API answers Unimplemented.
			code: daprerr.NotSupportedStateOperation.GRPC, msg: "operation type merge not supported",
			daprCode: "ERR_NOT_SUPPORTED_STATE_OPERATION",
		},
		{
			name: "query on a store without queries",
			call: func() error {
				_, err := client.QueryStateAlpha1(t.Context(), &runtimev1pb.QueryStateRequest{StoreName: storeName, Query: `{"filter":{"EQ":{"a":1}}}`})
				return err
			},
			code: daprerr.StateStoreNotSupported.GRPC, msg: "does not support querying", daprCode: "ERR_STATE_STORE_NOT_SUPPORTED",
		},
		// Building blocks cove does not run yet answer as daprd does
		// without a component of their kind.
		{
			name: "publish",
			call: func() error { return c.PublishEvent(t.Context(), "pubsub", "orders", []byte(`{"id":1}`)) },
			code: codes.InvalidArgument, msg: "pubsub pubsub is not found", daprCode: "ERR_PUBSUB_NOT_FOUND",
		},
		{
			name: "output binding",
			call: func() error {
				return c.InvokeOutputBinding(t.Context(), &dapr.InvokeBindingRequest{Name: "mail", Operation: "create"})
			},
			code: codes.Internal, msg: "error invoking output binding mail: couldn't find output binding mail", daprCode: "ERR_INVOKE_OUTPUT_BINDING",
		},
		{
			name: "configuration",
			call: func() error {
				_, err := c.GetConfigurationItem(t.Context(), "config", "a")
				return err
			},
			code: codes.FailedPrecondition, msg: "configuration stores not configured", daprCode: "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
		},
		{
			name: "lock",
			call: func() error {
				_, err := client.TryLockAlpha1(t.Context(), &runtimev1pb.TryLockRequest{StoreName: "lockstore", ResourceId: "r", LockOwner: "o", ExpiryInSeconds: 60})
				return err
			},
			code: codes.FailedPrecondition, msg: "lock store is not configured", daprCode: "ERR_LOCK_STORE_NOT_CONFIGURED",
		},
		{
			name: "actor",
			call: func() error {
				_, err := client.InvokeActor(t.Context(), &runtimev1pb.InvokeActorRequest{ActorType: "Cart", ActorId: "c1", Method: "add"})
				return err
			},
			code: codes.Unavailable, msg: "placement service is not configured", daprCode: "ERR_ACTOR_NO_PLACEMENT",
		},
		{
			name: "workflow",
			call: func() error {
				_, err := client.StartWorkflowBeta1(t.Context(), &runtimev1pb.StartWorkflowRequest{WorkflowComponent: "dapr", WorkflowName: "OrderFlow"})
				return err
			},
			code: codes.Unavailable, msg: "placement service is not configured", daprCode: "ERR_ACTOR_NO_PLACEMENT",
		},
		{
			name: "job",
			call: func() error {
				//lint:ignore SA1019 the alpha RPC is still served, as by daprd
				_, err := client.ScheduleJobAlpha1(t.Context(), &runtimev1pb.ScheduleJobRequest{Job: &runtimev1pb.Job{Name: "nightly"}})
				return err
			},
			code: codes.Internal, msg: "failed to schedule job due to: scheduler clients are disabled", daprCode: "DAPR_SCHEDULER_SCHEDULE_JOB",
		},
		{
			name: "conversation",
			call: func() error {
				_, err := client.ConverseAlpha2(t.Context(), &runtimev1pb.ConversationRequestAlpha2{Name: "llm"})
				return err
			},
			code: codes.InvalidArgument, msg: "failed finding conversation component llm", daprCode: "ERR_CONVERSATION_NOT_FOUND",
		},
		{
			name: "configuration subscription (a stream)",
			call: func() error {
				st, err := client.SubscribeConfiguration(t.Context(), &runtimev1pb.SubscribeConfigurationRequest{StoreName: "config"})
				if err != nil {
					return err
				}
				_, err = st.Recv()
				return err
			},
			code: codes.FailedPrecondition, msg: "configuration stores not configured", daprCode: "ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
		},
		{
			name: "streaming subscription without a pub/sub",
			call: func() error {
				st, err := client.SubscribeTopicEventsAlpha1(t.Context())
				if err != nil {
					return err
				}
				err = st.Send(&runtimev1pb.SubscribeTopicEventsRequestAlpha1{
					SubscribeTopicEventsRequestType: &runtimev1pb.SubscribeTopicEventsRequestAlpha1_InitialRequest{
						InitialRequest: &runtimev1pb.SubscribeTopicEventsRequestInitialAlpha1{PubsubName: "pubsub", Topic: "orders"},
					},
				})
				if err != nil {
					return err
				}
				_, err = st.Recv()
				return err
			},
			code: codes.InvalidArgument, msg: "pubsub pubsub is not found", daprCode: "ERR_PUBSUB_NOT_FOUND",
		},
		{
			name: "proxy to unknown app",
			call: func() error {
				ctx := metadata.AppendToOutgoingContext(t.Context(), "dapr-app-id", "nope")
				_, err := testpb.NewTestServiceClient(s.conn(t)).EmptyCall(ctx, &testpb.Empty{})
				return err
			},
			code: codes.Internal, msg: "failed to invoke, id: nope", daprCode: "ERR_DIRECT_INVOKE",
		},
		{
			name: "proxy without app id",
			call: func() error {
				_, err := testpb.NewTestServiceClient(s.conn(t)).EmptyCall(t.Context(), &testpb.Empty{})
				return err
			},
			code: codes.Unimplemented, msg: "unknown service grpc.testing.TestService",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := wantStatus(t, tc.call(), tc.code, tc.msg)
			if tc.daprCode == "" {
				return
			}
			if info := errorInfo(st.Details()); info == nil || info.GetReason() != tc.daprCode {
				t.Errorf("details %v, want ErrorInfo reason %s", st.Details(), tc.daprCode)
			}
		})
	}
}

func TestMetadataAndShutdown(t *testing.T) {
	s := newStack(t)
	c := s.sdk(t)
	if err := c.SetMetadata(t.Context(), "team", "blue"); err != nil {
		t.Fatal(err)
	}
	md, err := c.GetMetadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if md.ID != "frontend" || md.ExtendedMetadata["team"] != "blue" || md.ExtendedMetadata["daprRuntimeVersion"] != "test" {
		t.Errorf("metadata id %q extended %v", md.ID, md.ExtendedMetadata)
	}
	if len(md.RegisteredComponents) != 1 || md.RegisteredComponents[0].Name != storeName || md.RegisteredComponents[0].Type != "state.in-memory" {
		t.Errorf("components %+v", md.RegisteredComponents)
	}
	// The HTTP API reports the same extended attribute.
	resp, err := http.Get(s.httpURL + "/v1.0/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), `"team":"blue"`) {
		t.Errorf("HTTP metadata %s lacks the attribute set over gRPC", body)
	}

	if err := c.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.shutdown:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not call the shutdown hook")
	}
}

func errorInfo(details []any) *errdetails.ErrorInfo {
	for _, d := range details {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
