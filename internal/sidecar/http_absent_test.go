package sidecar

import (
	"net/http"
	"testing"
)

// TestAbsentBuildingBlocks checks that the API paths of building blocks
// cove does not run yet answer daprd's own error for a sidecar without
// such a component, never the invocation fallback's ERR_DIRECT_INVOKE.
func TestAbsentBuildingBlocks(t *testing.T) {
	env := newEnv(t, Config{})
	const (
		pubsub    = "ERR_PUBSUB_NOT_FOUND"
		binding   = "ERR_INVOKE_OUTPUT_BINDING"
		config    = "ERR_CONFIGURATION_STORE_NOT_CONFIGURED"
		lock      = "ERR_LOCK_STORE_NOT_CONFIGURED"
		placement = "ERR_ACTOR_NO_PLACEMENT"
		crypto    = "ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED"
	)
	tests := []struct {
		verb, path, body string
		status           int
		code, message    string
	}{
		{verb: "POST", path: "/v1.0/publish/pubsub/orders", body: `{"id":1}`, status: 404, code: pubsub, message: "pubsub pubsub is not found"},
		{verb: "PUT", path: "/v1.0/publish/messages/a/b", status: 404, code: pubsub, message: "pubsub messages is not found"},
		{verb: "POST", path: "/v1.0-alpha1/publish/bulk/pubsub/orders", body: `[]`, status: 404, code: pubsub, message: "pubsub pubsub is not found"},
		{verb: "POST", path: "/v1.0/publish/bulk/pubsub/orders", body: `[]`, status: 404, code: pubsub, message: "pubsub pubsub is not found"},
		{verb: "POST", path: "/v1.0/bindings/mail", body: `{"operation":"create","data":"x"}`, status: 500, code: binding,
			message: "error invoking output binding mail: couldn't find output binding mail"},
		{verb: "PUT", path: "/v1.0/bindings/mail", body: `{"data":"x"}`, status: 500, code: binding,
			message: "error invoking output binding mail: operation field is missing from request"},
		{verb: "POST", path: "/v1.0/bindings/mail", body: `not json`, status: 400, code: "ERR_MALFORMED_REQUEST"},
		{verb: "GET", path: "/v1.0/configuration/config?key=a", status: 500, code: config, message: "configuration stores not configured"},
		{verb: "GET", path: "/v1.0-alpha1/configuration/config/subscribe", status: 500, code: config},
		{verb: "GET", path: "/v1.0/configuration/config/1234/unsubscribe", status: 500, code: config},
		{verb: "POST", path: "/v1.0-alpha1/lock/lockstore", body: `{"resourceId":"r","lockOwner":"o","expiryInSeconds":60}`, status: 500, code: lock,
			message: "lock store is not configured"},
		{verb: "POST", path: "/v1.0-alpha1/lock/lockstore", body: `{"resourceId":"r","lockOwner":"o"}`, status: 400, code: "ERR_MALFORMED_REQUEST",
			message: "ExpiryInSeconds is not positive in lock store lockstore"},
		{verb: "POST", path: "/v1.0-alpha1/unlock/lockstore", body: `{"resourceId":"r","lockOwner":"o"}`, status: 500, code: lock},
		{verb: "POST", path: "/v1.0/actors/Cart/c1/method/add", status: 400, code: placement, message: "placement service is not configured"},
		{verb: "DELETE", path: "/v1.0/actors/Cart/c1/method/add", status: 400, code: placement},
		{verb: "GET", path: "/v1.0/actors/Cart/c1/state/items", status: 400, code: placement},
		{verb: "PUT", path: "/v1.0/actors/Cart/c1/state", body: `[]`, status: 400, code: placement},
		{verb: "POST", path: "/v1.0/actors/Cart/c1/reminders/r", body: `{}`, status: 400, code: placement},
		{verb: "DELETE", path: "/v1.0/actors/Cart/c1/timers/t", status: 400, code: placement},
		{verb: "GET", path: "/v1.0/actors/Cart/c1/reminders/r", status: 400, code: placement},
		{verb: "POST", path: "/v1.0/workflows/dapr/OrderFlow/start?instanceID=1", body: `{}`, status: 400, code: placement},
		{verb: "POST", path: "/v1.0-beta1/workflows/dapr/OrderFlow/start", status: 400, code: placement},
		{verb: "GET", path: "/v1.0-alpha1/workflows/dapr/1", status: 400, code: placement},
		{verb: "POST", path: "/v1.0/workflows/dapr/1/raiseEvent/approved", status: 400, code: placement},
		{verb: "POST", path: "/v1.0/workflows/dapr/1/terminate", status: 400, code: placement},
		{verb: "POST", path: "/v1.0-alpha1/jobs/nightly", body: `{"schedule":"@daily"}`, status: 500, code: "DAPR_SCHEDULER_SCHEDULE_JOB",
			message: "failed to schedule job due to: scheduler clients are disabled"},
		{verb: "GET", path: "/v1.0/jobs/nightly", status: 500, code: "DAPR_SCHEDULER_GET_JOB"},
		{verb: "DELETE", path: "/v1.0-alpha1/jobs/nightly", status: 500, code: "DAPR_SCHEDULER_DELETE_JOB"},
		{verb: "PUT", path: "/v1.0-alpha1/crypto/vault/encrypt", body: "x", status: 500, code: crypto, message: "crypto providers not configured"},
		{verb: "POST", path: "/v1.0-alpha1/subtlecrypto/vault/sign", body: `{}`, status: 500, code: crypto},
		{verb: "POST", path: "/v1.0-alpha1/conversation/llm/converse", body: `{}`, status: 400, code: "ERR_CONVERSATION_NOT_FOUND",
			message: "failed finding conversation component llm"},
		{verb: "POST", path: "/v1.0-alpha2/conversation/llm/converse", body: `{}`, status: 400, code: "ERR_CONVERSATION_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.verb+" "+tc.path, func(t *testing.T) {
			resp, body := do(t, tc.verb, env.url+tc.path, tc.body, http.Header{"Content-Type": {"application/json"}})
			msg := wantDaprError(t, resp, body, tc.status, tc.code)
			if tc.message != "" && msg != tc.message {
				t.Errorf("message %q, want %q", msg, tc.message)
			}
		})
	}
}
