// Package redis is the bindings.redis output binding, as Dapr's: create
// sets the key metadata item to the data (ttlInSeconds expires it), get
// reads it (delete=true reads and removes it), delete removes it,
// increment adds one to it.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/redisconn"
)

// Type is the component type this package registers.
const Type = "bindings.redis"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ bindings.Output = (*Binding)(nil)

// OperationIncrement is Dapr's increment operation.
const OperationIncrement = "increment"

// Binding is the Redis output binding.
type Binding struct {
	client goredis.UniversalClient
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{} }

// Init reads Dapr's Redis connection metadata and checks that Redis
// answers.
func (b *Binding) Init(ctx context.Context, md components.Metadata) error {
	m := struct {
		redisconn.Metadata
		bindings.RuntimeMetadata
	}{Metadata: redisconn.Defaults()}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	conn, cerr := m.Metadata.Check()
	if err := errors.Join(err, cerr); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	client, err := conn.Connect(ctx)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.client = client
	return nil
}

// Operations are Dapr's: create, delete, get, increment.
func (b *Binding) Operations() []string {
	return []string{bindings.OperationCreate, bindings.OperationDelete, bindings.OperationGet, OperationIncrement}
}

// Invoke runs one operation on the key metadata item.
func (b *Binding) Invoke(ctx context.Context, req *bindings.Request) (*bindings.Response, error) {
	key := req.Metadata["key"]
	if key == "" {
		return nil, fmt.Errorf("%w: redis binding: missing key in request metadata", bindings.ErrInvalid)
	}
	ttl, err := ttlOf(req.Metadata)
	if err != nil {
		return nil, err
	}
	switch req.Operation {
	case bindings.OperationDelete:
		return nil, b.client.Del(ctx, key).Err()
	case bindings.OperationGet:
		var cmd *goredis.StringCmd
		if req.Metadata["delete"] == "true" {
			cmd = b.client.GetDel(ctx, key)
		} else {
			cmd = b.client.Get(ctx, key)
		}
		data, err := cmd.Bytes()
		if errors.Is(err, goredis.Nil) {
			return &bindings.Response{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &bindings.Response{Data: data}, nil
	case bindings.OperationCreate:
		return nil, b.write(ctx, key, ttl, func(p goredis.Pipeliner) { p.Set(ctx, key, req.Data, 0) })
	case OperationIncrement:
		return nil, b.write(ctx, key, ttl, func(p goredis.Pipeliner) { p.Incr(ctx, key) })
	}
	return nil, fmt.Errorf("%w: invalid operation type: %s", bindings.ErrInvalid, req.Operation)
}

// write runs cmd and, when asked, EXPIRE in one transaction.
func (b *Binding) write(ctx context.Context, key string, ttl time.Duration, cmd func(goredis.Pipeliner)) error {
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		cmd(p)
		if ttl > 0 {
			p.Expire(ctx, key, ttl)
		}
		return nil
	})
	return err
}

// ttlOf reads Dapr's ttlInSeconds request metadata.
func ttlOf(md map[string]string) (time.Duration, error) {
	v := md["ttlInSeconds"]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: metadata ttlInSeconds %q: use a whole number of seconds", bindings.ErrInvalid, v)
	}
	return time.Duration(n) * time.Second, nil
}

// Close closes the connection pool.
func (b *Binding) Close() error {
	if b.client == nil {
		return nil
	}
	err := b.client.Close()
	b.client = nil
	return err
}
