package sqlstore

import (
	"errors"
	"fmt"

	"github.com/cove-env/cove/internal/components/state"
)

// Ops are a transaction's operations checked before any SQL runs: per
// operation, the prepared write of a Set or the checked ETag of a Delete.
type Ops[W any] struct {
	ops    []state.Operation
	writes []W
	etags  []string
}

// PrepareOps checks every operation with the store's own set and del, so
// that a bad one fails the transaction before it touches the database.
func PrepareOps[W any](ops []state.Operation, set func(*state.SetRequest) (W, error), del func(*state.DeleteRequest) (string, error)) (*Ops[W], error) {
	p := &Ops[W]{ops: ops, writes: make([]W, len(ops)), etags: make([]string, len(ops))}
	for i, op := range ops {
		var err error
		switch {
		case op.Set != nil:
			p.writes[i], err = set(op.Set)
		case op.Delete != nil:
			p.etags[i], err = del(op.Delete)
		default:
			err = errors.New("neither set nor delete")
		}
		if err != nil {
			return nil, fmt.Errorf("operation %d: %w", i, err)
		}
	}
	return p, nil
}

// Apply runs the operations in order inside the caller's transaction,
// naming the one that fails. del gets the request and the ETag PrepareOps
// checked.
func (p *Ops[W]) Apply(set func(W) error, del func(req *state.DeleteRequest, etag string) error) error {
	for i, op := range p.ops {
		var err error
		if op.Set != nil {
			err = set(p.writes[i])
		} else {
			err = del(op.Delete, p.etags[i])
		}
		if err != nil {
			return fmt.Errorf("operation %d: %w", i, err)
		}
	}
	return nil
}
