// Package conformance is the one test suite every state store passes: reads
// and writes, ETags, first-write, concurrent conditional writers,
// transactions, TTLs, binary and large values and unusual keys. A store's
// test calls Run with a constructor; the suite names its keys with a random
// run id, so stores backed by a shared server (Redis) can run it without
// touching other data, and it deletes what it wrote when it ends.
//
// It imports the state store interface and the testing packages only; it
// must not import any store implementation.
package conformance
