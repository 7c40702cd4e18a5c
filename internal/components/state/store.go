// Package state defines the interface every state store implements and the
// errors it reports. Implementations live in subpackages (inmemory, sqlite,
// redis, ...) and register with the components registry; the conformance
// subpackage is the one suite they all pass.
//
// Keys arrive here already prefixed (for example "myapp||key"): prefixing is
// the state building block's job, not the store's.
package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cove-env/cove/internal/components"
)

// Kind is the component kind of state stores.
const Kind = "state"

func init() { components.RegisterKind(components.KindOf[Store](Kind)) }

// Feature is a capability a store advertises; the names are Dapr's, as
// reported by the metadata API.
type Feature string

// Features a store may report.
const (
	FeatureETag          Feature = "ETAG"
	FeatureTransactional Feature = "TRANSACTIONAL"
	FeatureTTL           Feature = "TTL"
	FeatureQuery         Feature = "QUERY_API"
	FeatureActor         Feature = "ACTOR"
)

// Concurrency and consistency option values, as Dapr spells them.
const (
	FirstWrite  = "first-write"
	LastWrite   = "last-write"
	Strong      = "strong"
	Eventual    = "eventual"
	TTLMetadata = "ttlInSeconds"
)

// Errors a store wraps (fmt.Errorf("%w: ...")) so callers map them to
// Dapr's error codes with errors.Is.
var (
	// ErrETagMismatch: the given ETag is not the current one, or the key
	// does not exist when an ETag was given.
	ErrETagMismatch = errors.New("possible etag mismatch: the etag does not match the stored value")
	// ErrETagInvalid: the ETag is not in the store's format.
	ErrETagInvalid = errors.New("invalid etag value")
	// ErrNotSupported: the store does not implement the requested feature.
	ErrNotSupported = errors.New("not supported by this state store")
	// ErrQueryInvalid: the store cannot run the query as written (a page
	// token it did not issue, say): the caller's mistake.
	ErrQueryInvalid = errors.New("invalid query")
)

// Options are a write's concurrency and consistency.
type Options struct {
	Concurrency string // FirstWrite or LastWrite (default)
	Consistency string // Strong or Eventual (default)
}

// GetRequest reads one key.
type GetRequest struct {
	Key         string
	Metadata    map[string]string
	Consistency string
}

// GetResponse is a read result. A missing key is a nil Data and nil ETag,
// not an error.
type GetResponse struct {
	Data        []byte
	ETag        *string
	Metadata    map[string]string
	ContentType *string
}

// SetRequest writes one key. A non-nil ETag makes the write conditional.
// Metadata["ttlInSeconds"] sets an expiry where the store supports TTL.
type SetRequest struct {
	Key         string
	Value       []byte
	ETag        *string
	Metadata    map[string]string
	Options     Options
	ContentType *string
}

// DeleteRequest deletes one key; a non-nil ETag makes it conditional.
type DeleteRequest struct {
	Key      string
	ETag     *string
	Metadata map[string]string
	Options  Options
}

// Operation is one step of a transaction: exactly one of Set and Delete.
type Operation struct {
	Set    *SetRequest
	Delete *DeleteRequest
}

// TransactionRequest is an ordered list of operations applied atomically.
type TransactionRequest struct {
	Operations []Operation
	Metadata   map[string]string
}

// RuntimeMetadata names the metadata items of a state store component
// that the sidecar reads, not the store: a store embeds it in the struct it
// decodes its metadata into, so components.Metadata.Decode does not report
// them as unknown. The values are not used from here.
type RuntimeMetadata struct {
	KeyPrefix                     string `metadata:"keyPrefix"`
	ActorStateStore               string `metadata:"actorStateStore"`
	OutboxPublishPubsub           string `metadata:"outboxPublishPubsub"`
	OutboxPublishTopic            string `metadata:"outboxPublishTopic"`
	OutboxPubsub                  string `metadata:"outboxPubsub"`
	OutboxDiscardWhenMissingState string `metadata:"outboxDiscardWhenMissingState"`
	PrimaryEncryptionKey          string `metadata:"primaryEncryptionKey"`
	SecondaryEncryptionKey        string `metadata:"secondaryEncryptionKey"`
}

// Store is the interface every state store implements.
type Store interface {
	// Init connects and prepares the store; it fails with a message that
	// names the address it could not reach.
	Init(ctx context.Context, md components.Metadata) error
	Features() []Feature
	Get(ctx context.Context, req *GetRequest) (*GetResponse, error)
	Set(ctx context.Context, req *SetRequest) error
	Delete(ctx context.Context, req *DeleteRequest) error
	Close() error
}

// Transactional is implemented by stores that apply several operations
// atomically (and then report FeatureTransactional).
type Transactional interface {
	Multi(ctx context.Context, req *TransactionRequest) error
}

// ParseTTL reads ttlInSeconds from a request's metadata. Absent, 0 and -1
// all mean no expiry (a zero duration); anything else that is not a whole
// number of seconds is an error, as in Dapr.
func ParseTTL(md map[string]string) (time.Duration, error) {
	v := md[TTLMetadata]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("incorrect value for metadata %q: %q: must be an integer of -1 or more", TTLMetadata, v)
	}
	return time.Duration(max(n, 0)) * time.Second, nil
}

// FilterOp is an operator of Dapr's state query language.
type FilterOp string

// The operators a Filter may hold.
const (
	FilterEQ  FilterOp = "EQ"
	FilterIN  FilterOp = "IN"
	FilterAND FilterOp = "AND"
	FilterOR  FilterOp = "OR"
)

// Filter is one node of a query's filter tree, already validated by the
// state building block. EQ compares the value at Path with Values[0]; IN
// with any of Values; AND and OR combine Filters.
type Filter struct {
	Op FilterOp
	// Path is the field's path inside the stored JSON value ("person.org"
	// is {"person","org"}).
	Path []string
	// Values are JSON scalars: string, float64, bool or nil.
	Values  []any
	Filters []*Filter
}

// SortKey orders query results by the value at Path.
type SortKey struct {
	Path       []string
	Descending bool
}

// QueryRequest is a validated state query. Only keys starting with
// KeyPrefix are candidates, so one app never sees another's keys.
type QueryRequest struct {
	Filter    *Filter // nil matches every key
	Sort      []SortKey
	Limit     int    // 0: no limit
	Token     string // a page token a previous response returned; "" for the first page
	KeyPrefix string
	Metadata  map[string]string
}

// QueryResult is one matching key, with its full store key.
type QueryResult struct {
	Key  string
	Data []byte
	ETag *string
}

// QueryResponse is one page of results; Token is set when there may be
// more.
type QueryResponse struct {
	Results []QueryResult
	Token   string
}

// Querier is implemented by stores that answer Dapr's state query API (and
// then report FeatureQuery). Only JSON values take part in a query.
type Querier interface {
	Query(ctx context.Context, req *QueryRequest) (*QueryResponse, error)
}
