package postgresql_test

import (
	"strconv"
	"testing"

	"github.com/cove-env/cove/internal/components/state"
	"github.com/cove-env/cove/internal/components/state/conformance"
)

// The benchmarks compare the store with the same work done through pgx
// directly, on a table of the same shape: the bare statement an
// application would write by hand (a SELECT by key; an upsert). Besides
// ns/op for the store they report raw-ns/op for the direct call and x-raw,
// the store's time as a multiple of it.

const benchValue = `{"orderId":42,"items":["apple","pear"],"total":12.5}`

func BenchmarkGet(b *testing.B) {
	pool := rawPool(b)
	for _, version := range []string{"v1", "v2"} {
		b.Run(version, func(b *testing.B) {
			table, meta := tables(b, pool)
			s := open(b, version, props(version, table, meta))
			if err := s.Set(b.Context(), &state.SetRequest{Key: "app||order", Value: []byte(benchValue)}); err != nil {
				b.Fatal(err)
			}
			q := `SELECT value, xmin::text FROM ` + table + ` WHERE key = $1`
			if version == "v2" {
				q = `SELECT value, etag::text FROM ` + table + `_state WHERE key = $1`
			}
			conformance.Compare(b,
				func(int) error {
					var v []byte
					var etag string
					return pool.QueryRow(b.Context(), q, "app||order").Scan(&v, &etag)
				},
				func(int) error {
					_, err := s.Get(b.Context(), &state.GetRequest{Key: "app||order"})
					return err
				})
		})
	}
}

func BenchmarkSet(b *testing.B) {
	pool := rawPool(b)
	for _, version := range []string{"v1", "v2"} {
		b.Run(version, func(b *testing.B) {
			table, meta := tables(b, pool)
			s := open(b, version, props(version, table, meta))
			q := `INSERT INTO ` + table + ` (key, value, isbinary) VALUES ($1, $2::jsonb, false)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updatedate = CURRENT_TIMESTAMP`
			if version == "v2" {
				q = `INSERT INTO ` + table + `_state (key, value) VALUES ($1, $2)
					ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = gen_random_uuid(), updated_at = now()`
			}
			conformance.Compare(b,
				func(i int) error {
					_, err := pool.Exec(b.Context(), q, "raw||order-"+strconv.Itoa(i%100), []byte(benchValue))
					return err
				},
				func(i int) error {
					return s.Set(b.Context(), &state.SetRequest{Key: "app||order-" + strconv.Itoa(i%100), Value: []byte(benchValue)})
				})
		})
	}
}
