// Package daprerr is the one catalog of Dapr API errors: each entry has
// Dapr's errorCode and the HTTP and gRPC status it maps to. Building blocks
// return *Error values; the HTTP front end renders them as Dapr's JSON body
// ({"errorCode","message"}) and the gRPC front end as a status.
//
// It imports nothing of cove's.
package daprerr

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
)

// Kind is one catalog entry.
type Kind struct {
	Code string
	HTTP int
	GRPC codes.Code
}

// The catalog. Codes and statuses follow Dapr's runtime.
var (
	Internal         = Kind{"ERR_INTERNAL", http.StatusInternalServerError, codes.Internal}
	BadRequest       = Kind{"ERR_BAD_REQUEST", http.StatusBadRequest, codes.InvalidArgument}
	NotFound         = Kind{"ERR_NOT_FOUND", http.StatusNotFound, codes.NotFound}
	Malformed        = Kind{"ERR_MALFORMED_REQUEST", http.StatusBadRequest, codes.InvalidArgument}
	MalformedData    = Kind{"ERR_MALFORMED_REQUEST_DATA", http.StatusBadRequest, codes.InvalidArgument}
	HealthNotReady   = Kind{"ERR_HEALTH_NOT_READY", http.StatusInternalServerError, codes.Unavailable}
	OutboundNotReady = Kind{"ERR_OUTBOUND_HEALTH_NOT_READY", http.StatusInternalServerError, codes.Unavailable}
	MetadataGet      = Kind{"ERR_METADATA_GET", http.StatusInternalServerError, codes.Internal}
	MetadataSet      = Kind{"ERR_METADATA_SET", http.StatusBadRequest, codes.InvalidArgument}
	Unauthorized     = Kind{"ERR_UNAUTHORIZED", http.StatusUnauthorized, codes.Unauthenticated}
	BodyTooLarge     = Kind{"ERR_BODY_TOO_LARGE", http.StatusRequestEntityTooLarge, codes.ResourceExhausted}

	DirectInvoke         = Kind{"ERR_DIRECT_INVOKE", http.StatusInternalServerError, codes.Internal}
	DirectInvokeNotReady = Kind{"ERR_DIRECT_INVOKE_NOT_READY", http.StatusInternalServerError, codes.Internal}

	StateStoreNotFound       = Kind{"ERR_STATE_STORE_NOT_FOUND", http.StatusBadRequest, codes.InvalidArgument}
	StateStoresNotConfigured = Kind{"ERR_STATE_STORE_NOT_CONFIGURED", http.StatusInternalServerError, codes.FailedPrecondition}
	StateStoreNotSupported   = Kind{"ERR_STATE_STORE_NOT_SUPPORTED", http.StatusInternalServerError, codes.Internal}
	StateGet                 = Kind{"ERR_STATE_GET", http.StatusInternalServerError, codes.Internal}
	StateSave                = Kind{"ERR_STATE_SAVE", http.StatusInternalServerError, codes.Internal}
	StateDelete              = Kind{"ERR_STATE_DELETE", http.StatusInternalServerError, codes.Internal}
	StateBulkGet             = Kind{"ERR_STATE_BULK_GET", http.StatusInternalServerError, codes.Internal}
	StateTransaction         = Kind{"ERR_STATE_TRANSACTION", http.StatusInternalServerError, codes.Internal}
	StateQuery               = Kind{"ERR_STATE_QUERY", http.StatusInternalServerError, codes.Internal}
	// NotSupportedStateOperation answers a transaction operation other
	// than upsert and delete.
	NotSupportedStateOperation = Kind{"ERR_NOT_SUPPORTED_STATE_OPERATION", http.StatusBadRequest, codes.InvalidArgument}

	SecretStoresNotConfigured = Kind{"ERR_SECRET_STORES_NOT_CONFIGURED", http.StatusInternalServerError, codes.FailedPrecondition}
	// SecretStoreNotFound is 401 over HTTP, as daprd answers it.
	SecretStoreNotFound    = Kind{"ERR_SECRET_STORE_NOT_FOUND", http.StatusUnauthorized, codes.InvalidArgument}
	SecretGet              = Kind{"ERR_SECRET_GET", http.StatusInternalServerError, codes.Internal}
	SecretPermissionDenied = Kind{"ERR_PERMISSION_DENIED", http.StatusForbidden, codes.PermissionDenied}
)

// Error is an API error: a catalog entry, a message for the caller, and
// optionally the cause for logs and errors.Is.
type Error struct {
	Kind    Kind
	Message string
	// HTTPStatus overrides Kind.HTTP when non-zero (Dapr answers ETag
	// conflicts with 409 under the ERR_STATE_SAVE code, for example).
	HTTPStatus int
	// GRPCCode overrides Kind.GRPC when non-zero.
	GRPCCode codes.Code
	Cause    error
}

// New builds an error of kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an error of kind whose message ends with the cause.
func Wrap(kind Kind, cause error, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &Error{Kind: kind, Message: msg, Cause: cause}
}

// WithStatus returns a copy with the HTTP and gRPC statuses overridden.
func (e *Error) WithStatus(httpStatus int, grpcCode codes.Code) *Error {
	c := *e
	c.HTTPStatus, c.GRPCCode = httpStatus, grpcCode
	return &c
}

func (e *Error) Error() string { return e.Kind.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Cause }

// Status is the HTTP status to answer with.
func (e *Error) Status() int {
	if e.HTTPStatus != 0 {
		return e.HTTPStatus
	}
	return e.Kind.HTTP
}

// Code is the gRPC status code to answer with.
func (e *Error) Code() codes.Code {
	if e.GRPCCode != 0 {
		return e.GRPCCode
	}
	return e.Kind.GRPC
}

// Body is the JSON body Dapr's HTTP API answers errors with.
type Body struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// Body returns the error's JSON body.
func (e *Error) Body() Body { return Body{ErrorCode: e.Kind.Code, Message: e.Message} }

// From converts any error to an *Error: an *Error in the chain is returned
// as is, anything else becomes ERR_INTERNAL.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(Internal, err, "internal error")
}
