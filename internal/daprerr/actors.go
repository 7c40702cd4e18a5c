package daprerr

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The actor runtime's errors, with daprd's codes and statuses.
var (
	ActorNoAddress            = Kind{"ERR_ACTOR_NO_ADDRESS", http.StatusNotFound, codes.FailedPrecondition}
	ActorInstanceMissing      = Kind{"ERR_ACTOR_INSTANCE_MISSING", http.StatusBadRequest, codes.Internal}
	ActorInvokeMethod         = Kind{"ERR_ACTOR_INVOKE_METHOD", http.StatusInternalServerError, codes.Internal}
	ActorRuntimeNotFound      = Kind{"ERR_ACTOR_RUNTIME_NOT_FOUND", http.StatusInternalServerError, codes.Internal}
	ActorStateGet             = Kind{"ERR_ACTOR_STATE_GET", http.StatusInternalServerError, codes.Internal}
	ActorStateTransactionSave = Kind{"ERR_ACTOR_STATE_TRANSACTION_SAVE", http.StatusInternalServerError, codes.Internal}
	ActorRuntimeClosed        = Kind{"ERR_ACTOR_RUNTIME_CLOSED", http.StatusServiceUnavailable, codes.Unavailable}
	ActorMaxStackDepth        = Kind{"ERR_ACTOR_MAX_STACK_DEPTH_EXCEEDED", http.StatusInternalServerError, codes.ResourceExhausted}
	ActorReminderNonHosted    = Kind{"ERR_ACTOR_REMINDER_NON_HOSTED", http.StatusForbidden, codes.PermissionDenied}
	ActorReminderCreate       = Kind{"ERR_ACTOR_REMINDER_CREATE", http.StatusInternalServerError, codes.Internal}
	ActorReminderGet          = Kind{"ERR_ACTOR_REMINDER_GET", http.StatusInternalServerError, codes.Internal}
	ActorReminderDelete       = Kind{"ERR_ACTOR_REMINDER_DELETE", http.StatusInternalServerError, codes.Internal}
	ActorReminderNotFound     = Kind{"ERR_ACTOR_REMINDER_NOT_FOUND", http.StatusNotFound, codes.NotFound}
)

// NoActorStateStore is daprd's answer to the actor state API when no state
// store says actorStateStore "true".
func NoActorStateStore() *Error {
	return New(ActorRuntimeNotFound, `the state store is not configured to use the actor runtime. Have you set the - name: actorStateStore value: "true" in your state store component file?`)
}
