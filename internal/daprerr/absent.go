package daprerr

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// Building blocks cove does not run yet answer what daprd answers when no
// component of their kind is configured (or, for actors and workflows, no
// placement service), so clients and SDKs see the error they would see
// there, never an invocation error.
var (
	PubsubNotFound               = Kind{"ERR_PUBSUB_NOT_FOUND", http.StatusNotFound, codes.InvalidArgument}
	ActorNoPlacement             = Kind{"ERR_ACTOR_NO_PLACEMENT", http.StatusBadRequest, codes.Unavailable}
	CryptoProvidersNotConfigured = Kind{"ERR_CRYPTO_PROVIDERS_NOT_CONFIGURED", http.StatusInternalServerError, codes.Internal}
	ConversationNotFound         = Kind{"ERR_CONVERSATION_NOT_FOUND", http.StatusBadRequest, codes.InvalidArgument}
	SchedulerScheduleJob         = Kind{"DAPR_SCHEDULER_SCHEDULE_JOB", http.StatusInternalServerError, codes.Internal}
	SchedulerGetJob              = Kind{"DAPR_SCHEDULER_GET_JOB", http.StatusInternalServerError, codes.Internal}
	SchedulerDeleteJob           = Kind{"DAPR_SCHEDULER_DELETE_JOB", http.StatusInternalServerError, codes.Internal}
	SchedulerListJobs            = Kind{"DAPR_SCHEDULER_LIST_JOBS", http.StatusInternalServerError, codes.Internal}
)

// NoPubsub is daprd's answer to a publish to a pub/sub it does not have.
func NoPubsub(name string) *Error {
	return New(PubsubNotFound, "pubsub %s is not found", name)
}

// NoPlacement answers the actor and workflow APIs: daprd without a
// placement service disables its actor runtime, and workflows run on it.
func NoPlacement() *Error { return New(ActorNoPlacement, "placement service is not configured") }

// NoCryptoProviders answers the cryptography APIs.
func NoCryptoProviders() *Error {
	return New(CryptoProvidersNotConfigured, "crypto providers not configured")
}

// NoConversation answers the conversation API.
func NoConversation(name string) *Error {
	return New(ConversationNotFound, "failed finding conversation component %s", name)
}

// NoScheduler answers the jobs API with kind (one of the Scheduler kinds)
// and the action that failed ("schedule job"), as daprd does when it runs
// without a scheduler.
func NoScheduler(kind Kind, action string) *Error {
	return New(kind, "failed to %s due to: scheduler clients are disabled", action)
}
