package daprerr

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The pub/sub API's errors, with daprd's codes and statuses.
var (
	PubsubNotConfigured   = Kind{"ERR_PUBSUB_NOT_CONFIGURED", http.StatusBadRequest, codes.FailedPrecondition}
	PubsubEmpty           = Kind{"ERR_PUBSUB_EMPTY", http.StatusNotFound, codes.InvalidArgument}
	TopicNameEmpty        = Kind{"ERR_TOPIC_NAME_EMPTY", http.StatusNotFound, codes.InvalidArgument}
	PubsubForbidden       = Kind{"ERR_PUBSUB_FORBIDDEN", http.StatusForbidden, codes.PermissionDenied}
	PubsubPublishMessage  = Kind{"ERR_PUBSUB_PUBLISH_MESSAGE", http.StatusInternalServerError, codes.Internal}
	PubsubRequestMetadata = Kind{"ERR_PUBSUB_REQUEST_METADATA", http.StatusBadRequest, codes.InvalidArgument}
	// PubsubCloudEvents answers a body that claims to be a CloudEvent and
	// is not: 500 over HTTP but InvalidArgument over gRPC, as in daprd.
	PubsubCloudEvents = Kind{"ERR_PUBSUB_CLOUD_EVENTS_SER", http.StatusInternalServerError, codes.InvalidArgument}
	// PubsubEventsSer answers bulk entries that cannot be read or encoded.
	PubsubEventsSer = Kind{"ERR_PUBSUB_EVENTS_SER", http.StatusBadRequest, codes.InvalidArgument}
)
