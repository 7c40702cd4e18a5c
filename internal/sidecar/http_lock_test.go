package sidecar_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	dapr "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/lock"
	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/lock/inmemory"
	"github.com/cove-env/cove/internal/sidecar"
)

// lockSidecar starts a sidecar whose lock block holds "locks", a real
// in-memory store.
func lockSidecar(t *testing.T) (httpURL, grpcAddr string) {
	t.Helper()
	md := components.Metadata{Name: "locks", Type: inmemory.Type, Version: "v1"}
	st := inmemory.New()
	if err := st.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	svc := lock.New("frontend", lock.Options{})
	if err := svc.Add(md, st); err != nil {
		t.Fatal(err)
	}
	return serveSidecar(t, sidecar.Config{AppID: "frontend", Logger: slog.New(slog.DiscardHandler), Lock: svc})
}

func TestLockHTTP(t *testing.T) {
	base, _ := lockSidecar(t)
	post := func(path, body string) (*http.Response, []byte) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, body := post("/v1.0-alpha1/lock/locks", `{"resourceId":"orders","lockOwner":"a","expiryInSeconds":60}`)
	if resp.StatusCode != 200 || string(body) != `{"success":true}` {
		t.Fatalf("lock = %d %s, want 200 {\"success\":true}", resp.StatusCode, body)
	}
	// Absent fields are written too, as daprd emits them.
	resp, body = post("/v1.0-alpha1/lock/locks", `{"resourceId":"orders","lockOwner":"b","expiryInSeconds":60}`)
	if resp.StatusCode != 200 || string(body) != `{"success":false}` {
		t.Fatalf("lock held by another = %d %s", resp.StatusCode, body)
	}
	// Statuses are numbers: LOCK_BELONGS_TO_OTHERS is 2, SUCCESS 0,
	// LOCK_DOES_NOT_EXIST 1.
	for _, c := range []struct{ owner, want string }{{"b", `{"status":2}`}, {"a", `{"status":0}`}, {"a", `{"status":1}`}} {
		resp, body = post("/v1.0-alpha1/unlock/locks", `{"resourceId":"orders","lockOwner":"`+c.owner+`"}`)
		if resp.StatusCode != 200 || string(body) != c.want {
			t.Fatalf("unlock by %s = %d %s, want %s", c.owner, resp.StatusCode, body, c.want)
		}
	}

	for _, c := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"unknown store", "/v1.0-alpha1/lock/nope", `{"resourceId":"r","lockOwner":"o","expiryInSeconds":1}`, 400, "ERR_LOCK_STORE_NOT_FOUND", "lock store nope not found"},
		{"unknown store on unlock", "/v1.0-alpha1/unlock/nope", `{"resourceId":"r","lockOwner":"o"}`, 400, "ERR_LOCK_STORE_NOT_FOUND", "lock store nope not found"},
		{"no expiry", "/v1.0-alpha1/lock/locks", `{"resourceId":"r","lockOwner":"o"}`, 400, "ERR_MALFORMED_REQUEST", "ExpiryInSeconds is not positive in lock store locks"},
		{"no resource", "/v1.0-alpha1/lock/locks", `{"lockOwner":"o","expiryInSeconds":1}`, 400, "ERR_MALFORMED_REQUEST", "ResourceId is empty in lock store locks"},
		{"no owner", "/v1.0-alpha1/unlock/locks", `{"resourceId":"r"}`, 400, "ERR_MALFORMED_REQUEST", "LockOwner is empty in lock store locks"},
		{"separator in resource", "/v1.0-alpha1/lock/locks", `{"resourceId":"a||b","lockOwner":"o","expiryInSeconds":1}`, 500, "ERR_TRY_LOCK", "failed to try acquiring lock: input key/keyPrefix 'a||b' can't contain '||'"},
		{"not JSON", "/v1.0-alpha1/lock/locks", `{`, 400, "ERR_MALFORMED_REQUEST", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(c.path, c.body)
			var e struct{ ErrorCode, Message string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if resp.StatusCode != c.status || e.ErrorCode != c.code || (c.message != "" && e.Message != c.message) {
				t.Errorf("= %d %s, want %d %s %q", resp.StatusCode, body, c.status, c.code, c.message)
			}
		})
	}
}

func TestLockGRPC(t *testing.T) {
	_, addr := lockSidecar(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := runtimev1pb.NewDaprClient(conn)
	ctx := t.Context()
	res, err := c.TryLockAlpha1(ctx, &runtimev1pb.TryLockRequest{StoreName: "locks", ResourceId: "r", LockOwner: "a", ExpiryInSeconds: 5})
	if err != nil || !res.GetSuccess() {
		t.Fatalf("TryLock = %v, %v", res, err)
	}
	un, err := c.UnlockAlpha1(ctx, &runtimev1pb.UnlockRequest{StoreName: "locks", ResourceId: "r", LockOwner: "b"})
	if err != nil || un.GetStatus() != runtimev1pb.UnlockResponse_LOCK_BELONGS_TO_OTHERS {
		t.Fatalf("Unlock by another = %v, %v", un, err)
	}
	_, err = c.TryLockAlpha1(ctx, &runtimev1pb.TryLockRequest{StoreName: "nope", ResourceId: "r", LockOwner: "a", ExpiryInSeconds: 5})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("TryLock on an unknown store = %v, want InvalidArgument", err)
	}

	// The official SDK reads the same answers.
	sdk, err := dapr.NewClientWithAddressContext(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()
	got, err := sdk.TryLockAlpha1(ctx, "locks", &dapr.LockRequest{ResourceID: "r", LockOwner: "b", ExpiryInSeconds: 5})
	if err != nil || got.Success {
		t.Fatalf("SDK TryLock of a held lease = %+v, %v", got, err)
	}
	ur, err := sdk.UnlockAlpha1(ctx, "locks", &dapr.UnlockRequest{ResourceID: "r", LockOwner: "a"})
	if err != nil || ur.StatusCode != int32(runtimev1pb.UnlockResponse_SUCCESS) || ur.Status != "SUCCESS" {
		t.Fatalf("SDK Unlock = %+v, %v", ur, err)
	}
}
