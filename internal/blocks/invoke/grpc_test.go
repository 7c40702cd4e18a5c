package invoke

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// callbackApp is an app speaking gRPC: OnInvoke reports what it received
// as JSON; method "missing" fails with NotFound.
type callbackApp struct {
	runtimev1pb.UnimplementedAppCallbackServer
}

type onInvokeSeen struct {
	Method, Data, ContentType, Verb, Query string
	MD                                     map[string][]string
}

func (callbackApp) OnInvoke(ctx context.Context, in *commonv1pb.InvokeRequest) (*commonv1pb.InvokeResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-app", "greeter", "grpc-custom", "g"))
	if in.GetMethod() == "missing" {
		return nil, status.Error(codes.NotFound, "nothing here")
	}
	out, _ := json.Marshal(onInvokeSeen{in.GetMethod(), string(in.GetData().GetValue()), in.GetContentType(),
		in.GetHttpExtension().GetVerb().String(), in.GetHttpExtension().GetQuerystring(), md})
	return &commonv1pb.InvokeResponse{Data: &anypb.Any{Value: out}, ContentType: "application/json"}, nil
}

func startCallbackApp(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimev1pb.RegisterAppCallbackServer(srv, callbackApp{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

// grpcResolver resolves every app to one gRPC replica.
type grpcResolver string

func (r grpcResolver) Resolve(_ context.Context, appID string) (Target, error) {
	return Target{AppID: appID, Addr: string(r), Protocol: ProtocolGRPC}, nil
}

func TestInvokeTranslatesHTTPToGRPCApp(t *testing.T) {
	inv := New(grpcResolver(startCallbackApp(t)), Options{})
	t.Cleanup(func() { _ = inv.Close() })
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantCT     string
	}{
		{name: "answer", path: "/orders/1", wantStatus: http.StatusOK, wantCT: "application/json"},
		{name: "app error", path: "/missing", wantStatus: http.StatusNotFound, wantCT: "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := inv.Invoke(t.Context(), &Request{
				AppID: "greeter", Method: http.MethodPut, Path: tc.path, Query: "a=1",
				Header:      http.Header{"Content-Type": {"text/plain"}, "X-Custom": {"c"}},
				Body:        io.NopCloser(strings.NewReader("hello")),
				CallerAppID: "frontend",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.Status != tc.wantStatus || resp.Header.Get("Content-Type") != tc.wantCT {
				t.Fatalf("status %d content type %q, want %d %q (body %s)", resp.Status, resp.Header.Get("Content-Type"), tc.wantStatus, tc.wantCT, body)
			}
			if got := resp.Header.Get("X-App"); got != "greeter" {
				t.Errorf("app header X-App = %q", got)
			}
			if got := resp.Header.Get("Dapr-Grpc-Custom"); got != "g" {
				t.Errorf("grpc- header not renamed dapr-grpc-: %v", resp.Header)
			}
			if tc.wantStatus != http.StatusOK {
				if !strings.Contains(string(body), `"message":"nothing here"`) || !strings.Contains(string(body), `"code":5`) {
					t.Errorf("error body %s", body)
				}
				return
			}
			var seen onInvokeSeen
			if err := json.Unmarshal(body, &seen); err != nil {
				t.Fatal(err)
			}
			if seen.Method != "orders/1" || seen.Data != "hello" || seen.ContentType != "text/plain" || seen.Verb != "PUT" || seen.Query != "a=1" {
				t.Errorf("app saw %+v", seen)
			}
			wantMD := map[string][]string{
				"x-custom":           {"c"},
				"dapr-content-type":  {"text/plain"},
				"dapr-caller-app-id": {"frontend"},
				"dapr-callee-app-id": {"greeter"},
			}
			for k, v := range wantMD {
				if diff := cmp.Diff(v, seen.MD[k]); diff != "" {
					t.Errorf("metadata %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestInvokeMessagePassesStatusAndMetadata(t *testing.T) {
	inv := New(grpcResolver(startCallbackApp(t)), Options{})
	t.Cleanup(func() { _ = inv.Close() })
	res, err := inv.InvokeMessage(t.Context(), &MessageRequest{
		AppID: "greeter", CallerAppID: "frontend",
		Message:  &commonv1pb.InvokeRequest{Method: "missing"},
		Metadata: metadata.Pairs("dapr-caller-app-id", "spoofed", ":authority", "x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.HTTPStatus != 0 || res.Status.Code() != codes.NotFound || res.Status.Message() != "nothing here" {
		t.Errorf("result http %d status %v", res.HTTPStatus, res.Status)
	}
	if got := res.Header.Get("x-app"); len(got) != 1 {
		t.Errorf("header %v", res.Header)
	}
}

func TestGRPCConnectionsArePooledAndClosedWhenIdle(t *testing.T) {
	inv := New(grpcResolver(startCallbackApp(t)), Options{GRPCIdleTimeout: 20 * time.Millisecond})
	t.Cleanup(func() { _ = inv.Close() })
	for range 3 {
		conn, err := inv.DialApp(t.Context(), "greeter")
		if err != nil {
			t.Fatal(err)
		}
		if n := inv.conns.size(); n != 1 {
			t.Fatalf("%d pooled connections to one replica, want 1", n)
		}
		conn.Release()
		conn.Release() // a second release must not unbalance the count
	}
	deadline := time.Now().Add(5 * time.Second)
	for inv.conns.size() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection was never closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A call after the close opens a new connection and works.
	resp, err := inv.Invoke(t.Context(), &Request{AppID: "greeter", Method: http.MethodGet, Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Status != http.StatusOK {
		t.Errorf("status %d after reconnecting", resp.Status)
	}
}
