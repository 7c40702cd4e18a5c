package mysql_test

import (
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
)

// The benchmarks compare the store with the same work done through
// database/sql directly, on a table of the same shape: the bare statement
// an application would write by hand (a SELECT by id; an upsert with a
// fresh UUID eTag). Besides ns/op for the store they report raw-ns/op for
// the direct call and x-raw, the store's time as a multiple of it.

const benchValue = `{"orderId":42,"items":["apple","pear"],"total":12.5}`

func BenchmarkGet(b *testing.B) {
	db := rawDB(b)
	table, meta := tables(b, db)
	s := open(b, props(table, meta))
	if err := s.Set(b.Context(), &state.SetRequest{Key: "app||order", Value: []byte(benchValue)}); err != nil {
		b.Fatal(err)
	}
	get, err := db.PrepareContext(b.Context(), `SELECT value, eTag FROM `+table+` WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = get.Close() })
	conformance.Compare(b,
		func(int) error {
			var v []byte
			var etag string
			return get.QueryRowContext(b.Context(), "app||order").Scan(&v, &etag)
		},
		func(int) error {
			_, err := s.Get(b.Context(), &state.GetRequest{Key: "app||order"})
			return err
		})
}

func BenchmarkSet(b *testing.B) {
	db := rawDB(b)
	table, meta := tables(b, db)
	s := open(b, props(table, meta))
	set, err := db.PrepareContext(b.Context(), `INSERT INTO `+table+` (id, value, isbinary, eTag) VALUES (?, ?, 0, ?)
		ON DUPLICATE KEY UPDATE value = VALUES(value), eTag = VALUES(eTag)`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = set.Close() })
	conformance.Compare(b,
		func(i int) error {
			_, err := set.ExecContext(b.Context(), "raw||order-"+strconv.Itoa(i%100), benchValue, uuid.NewString())
			return err
		},
		func(i int) error {
			return s.Set(b.Context(), &state.SetRequest{Key: "app||order-" + strconv.Itoa(i%100), Value: []byte(benchValue)})
		})
}
