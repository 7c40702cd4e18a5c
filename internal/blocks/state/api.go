// Package state is Dapr's state management building block: the
// protocol-agnostic core behind the HTTP and gRPC state APIs. It owns the
// named stores of one app, applies key prefixes ("appid||key"), checks
// requests, and maps store errors to Dapr's error codes (package daprerr).
// Every call to a store goes through the store's outbound resiliency policy
// (package resiliency), given by whoever builds the Service.
//
// It must not import the sidecar front ends, the control plane or the
// resources loader: policies come in through Options.Outbound.
package state

// This file fixes the block's API; the front ends code against it.
//
//	func New(appID string) *Service
//	func NewWithOptions(appID string, opts Options) *Service                 // namespace, logger, outbound policies
//	func (s *Service) Add(md components.Metadata, store cstate.Store) error   // keyPrefix from md.Properties
//	func (s *Service) Close() error                                          // forgets the stores; does not close them
//	func (s *Service) Stores() []StoreInfo
//	func (s *Service) Check(store string) error                                 // Dapr's error for an unknown store
//	func (s *Service) Get(ctx context.Context, store, key string, opts GetOptions) (*Item, error)
//	func (s *Service) BulkGet(ctx context.Context, store string, keys []string, opts BulkGetOptions) ([]BulkItem, error)
//	func (s *Service) Save(ctx context.Context, store string, items []SaveItem) error
//	func (s *Service) Delete(ctx context.Context, store string, item DeleteItem) error
//	func (s *Service) Transact(ctx context.Context, store string, ops []TxOperation, metadata map[string]string) error
//	func (s *Service) Query(ctx context.Context, store string, query []byte, metadata map[string]string) (*QueryResponse, error)
//	func ParseQuery(data []byte) (*cstate.QueryRequest, error)                // the query language, for both front ends
//
// Every error returned is a *daprerr.Error with Dapr's code and status.

// StoreInfo describes a loaded store for the metadata API.
type StoreInfo struct {
	Name         string
	Type         string
	Version      string
	Capabilities []string
}

// GetOptions are a read's options.
type GetOptions struct {
	Consistency string
	Metadata    map[string]string
}

// Item is a read result. Found is false for a missing key.
type Item struct {
	Key         string
	Value       []byte
	ETag        string
	Found       bool
	Metadata    map[string]string
	ContentType string
}

// BulkGetOptions are a bulk read's options.
type BulkGetOptions struct {
	Parallelism int
	Metadata    map[string]string
}

// BulkItem is one key of a bulk read; Error is set when that key failed.
type BulkItem struct {
	Key      string
	Value    []byte
	ETag     string
	Found    bool
	Error    string
	Metadata map[string]string
}

// SaveItem is one key to write. Value is stored as given: the HTTP front
// end passes the JSON encoding of the request's value.
type SaveItem struct {
	Key         string
	Value       []byte
	ETag        *string
	Metadata    map[string]string
	Concurrency string
	Consistency string
	ContentType string
}

// DeleteItem is one key to delete.
type DeleteItem struct {
	Key         string
	ETag        *string
	Metadata    map[string]string
	Concurrency string
	Consistency string
}

// TxOperation is one step of a transaction: "upsert" uses Save, "delete"
// uses Delete.
type TxOperation struct {
	Operation string
	Save      SaveItem
	Delete    DeleteItem
}
