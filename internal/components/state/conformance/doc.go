// Package conformance is the one test suite every state store passes: reads
// and writes, ETags, first-write, concurrent conditional writers,
// transactions, TTLs, queries, binary and large values and unusual keys. A
// store's test calls Run with a constructor, and with Options for
// documented differences (JSON re-encoded by a jsonb column, a key length
// limit); the suite names its keys with a random run id, so stores backed
// by a shared server (Redis, PostgreSQL, MySQL) can run it without touching
// other data, and it deletes what it wrote when it ends. NeedService and
// Compare are the helpers stores' tests and benchmarks share.
//
// It imports the state store interface and the testing packages only; it
// must not import any store implementation.
package conformance
