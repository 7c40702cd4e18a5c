package daprerr

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The output bindings API's error, with daprd's code and statuses: every
// failure, an unknown binding included, is this one.
var InvokeOutputBinding = Kind{"ERR_INVOKE_OUTPUT_BINDING", http.StatusInternalServerError, codes.Internal}

// NoOutputBinding is daprd's answer to a call of an output binding it does
// not have; the operation is checked first, as daprd does.
func NoOutputBinding(name, operation string) *Error {
	if operation == "" {
		return New(InvokeOutputBinding, "error invoking output binding %s: operation field is missing from request", name)
	}
	return New(InvokeOutputBinding, "error invoking output binding %s: couldn't find output binding %s", name, name)
}
