package invoke

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	commonv1pb "github.com/dapr/dapr/pkg/proto/common/v1"
	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/testaddr"
)

// countingResolver resolves apps to the next address of their list, as
// addrs does, and counts the calls each address has in flight through
// Target.Done, as the routing table's resolver does.
type countingResolver struct {
	addrs
	protocol string

	mu       sync.Mutex
	inFlight map[string]int
	resolved int
	refused  []string // addresses reported refused (Target.Refused)
}

func (r *countingResolver) Resolve(ctx context.Context, appID string) (Target, error) {
	t, err := r.addrs.Resolve(ctx, appID)
	if err != nil {
		return t, err
	}
	t.Protocol = r.protocol
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlight == nil {
		r.inFlight = map[string]int{}
	}
	r.inFlight[t.Addr]++
	r.resolved++
	t.Refused = func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.refused = append(r.refused, t.Addr)
	}
	var once sync.Once
	t.Done = func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.inFlight[t.Addr]--
		})
	}
	return t, nil
}

// busy is how many calls are in flight to any address.
func (r *countingResolver) busy() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.inFlight {
		n += c
	}
	return n
}

// TestCallsInFlightEndWithTheAnswer checks that every way of calling a
// replica reports the call over (Target.Done), and not before: an HTTP
// answer once its body is closed, a refused attempt at once, a gRPC app's
// answer when it returns, a proxied gRPC connection on Release.
func TestCallsInFlightEndWithTheAnswer(t *testing.T) {
	app := echoApp(t).Listener.Addr().String()

	t.Run("http answer", func(t *testing.T) {
		r := &countingResolver{addrs: addrs{apps: map[string][]string{"orders": {app}}}}
		inv := New(r, Options{})
		resp, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodGet, Path: "/"})
		if err != nil {
			t.Fatal(err)
		}
		if n := r.busy(); n != 1 {
			t.Errorf("%d calls in flight while the answer is being read, want 1", n)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if n := r.busy(); n != 0 {
			t.Errorf("%d calls in flight after the answer was closed", n)
		}
	})

	t.Run("refused then answered", func(t *testing.T) {
		dead := testaddr.Refused(t)
		r := &countingResolver{addrs: addrs{apps: map[string][]string{"orders": {dead, app}}}}
		inv := New(r, Options{})
		resp, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodGet, Path: "/"})
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if r.resolved != 2 || r.busy() != 0 {
			t.Errorf("resolved %d times, %d calls still in flight; want 2 and 0", r.resolved, r.busy())
		}
		// The resolver hears of the refusal before the retry resolves.
		if diff := cmp.Diff([]string{dead}, r.refused); diff != "" {
			t.Errorf("refused addresses reported (-want +got):\n%s", diff)
		}
	})

	t.Run("given up", func(t *testing.T) {
		r := &countingResolver{addrs: addrs{apps: map[string][]string{"orders": {testaddr.Refused(t)}}}}
		inv := New(r, Options{MaxAttempts: 2})
		if _, err := inv.Invoke(t.Context(), &Request{AppID: "orders", Method: http.MethodGet, Path: "/"}); err == nil {
			t.Fatal("invoking a dead replica succeeded")
		}
		if n := r.busy(); n != 0 {
			t.Errorf("%d calls in flight after the invocation failed", n)
		}
		if len(r.refused) != 2 {
			t.Errorf("refusals reported %v; want each of the two attempts", r.refused)
		}
	})

	t.Run("message to an http app", func(t *testing.T) {
		r := &countingResolver{addrs: addrs{apps: map[string][]string{"orders": {app}}}}
		inv := New(r, Options{})
		if _, err := inv.InvokeMessage(t.Context(), &MessageRequest{AppID: "orders", Message: &commonv1pb.InvokeRequest{Method: "x"}}); err != nil {
			t.Fatal(err)
		}
		if n := r.busy(); n != 0 {
			t.Errorf("%d calls in flight after the message was answered", n)
		}
	})

	grpcApp := startCallbackApp(t)
	t.Run("grpc app", func(t *testing.T) {
		r := &countingResolver{addrs: addrs{apps: map[string][]string{"greeter": {grpcApp}}}, protocol: ProtocolGRPC}
		inv := New(r, Options{})
		t.Cleanup(func() { _ = inv.Close() })
		resp, err := inv.Invoke(t.Context(), &Request{AppID: "greeter", Method: http.MethodGet, Path: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if _, err := inv.InvokeMessage(t.Context(), &MessageRequest{AppID: "greeter", Message: &commonv1pb.InvokeRequest{Method: "x"}}); err != nil {
			t.Fatal(err)
		}
		if r.resolved != 2 || r.busy() != 0 {
			t.Errorf("resolved %d times, %d calls still in flight; want 2 and 0", r.resolved, r.busy())
		}
	})

	t.Run("proxied grpc", func(t *testing.T) {
		r := &countingResolver{addrs: addrs{apps: map[string][]string{"greeter": {grpcApp}}}, protocol: ProtocolGRPC}
		inv := New(r, Options{})
		t.Cleanup(func() { _ = inv.Close() })
		conn, err := inv.DialApp(t.Context(), "greeter")
		if err != nil {
			t.Fatal(err)
		}
		if n := r.busy(); n != 1 {
			t.Errorf("%d calls in flight on a dialled connection, want 1", n)
		}
		conn.Release()
		conn.Release()
		if n := r.busy(); n != 0 {
			t.Errorf("%d calls in flight after Release", n)
		}
	})
}
