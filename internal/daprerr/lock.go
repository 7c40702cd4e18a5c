package daprerr

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// The distributed lock API's errors, with daprd's codes and statuses.
var (
	LockStoresNotConfigured = Kind{"ERR_LOCK_STORE_NOT_CONFIGURED", http.StatusInternalServerError, codes.FailedPrecondition}
	LockStoreNotFound       = Kind{"ERR_LOCK_STORE_NOT_FOUND", http.StatusBadRequest, codes.InvalidArgument}
	LockTry                 = Kind{"ERR_TRY_LOCK", http.StatusInternalServerError, codes.Internal}
	LockUnlock              = Kind{"ERR_UNLOCK", http.StatusInternalServerError, codes.Internal}
)

// NoLockStores answers the distributed lock API without a lock store.
func NoLockStores() *Error { return New(LockStoresNotConfigured, "lock store is not configured") }

// LockExpiryNotPositive is daprd's check of a lock's expiry, made before it
// looks for the store.
func LockExpiryNotPositive(store string) *Error {
	return New(Malformed, "ExpiryInSeconds is not positive in lock store %s", store)
}
