package daprerr

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The configuration API's errors, with daprd's codes and statuses.
var (
	ConfigurationStoresNotConfigured = Kind{"ERR_CONFIGURATION_STORE_NOT_CONFIGURED", http.StatusInternalServerError, codes.FailedPrecondition}
	ConfigurationStoreNotFound       = Kind{"ERR_CONFIGURATION_STORE_NOT_FOUND", http.StatusBadRequest, codes.InvalidArgument}
	ConfigurationGet                 = Kind{"ERR_CONFIGURATION_GET", http.StatusInternalServerError, codes.Internal}
	// ConfigurationSubscribe is InvalidArgument over gRPC, as daprd.
	ConfigurationSubscribe   = Kind{"ERR_CONFIGURATION_SUBSCRIBE", http.StatusInternalServerError, codes.InvalidArgument}
	ConfigurationUnsubscribe = Kind{"ERR_CONFIGURATION_UNSUBSCRIBE", http.StatusInternalServerError, codes.Internal}
	// AppChannelNil answers a subscription that needs the app when the
	// sidecar has no app port to deliver to.
	AppChannelNil = Kind{"ERR_APP_CHANNEL_NIL", http.StatusInternalServerError, codes.Internal}
)

// NoConfigurationStores answers the configuration API without a
// configuration store.
func NoConfigurationStores() *Error {
	return New(ConfigurationStoresNotConfigured, "configuration stores not configured")
}
