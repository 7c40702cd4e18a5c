package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/components/state"
)

// ttlDeadline bounds how long the TTL cases wait for a 1s TTL to pass.
const ttlDeadline = 15 * time.Second

// Option adjusts the suite to a store's documented behaviour.
type Option func(*config)

type config struct {
	jsonNormalized bool
	maxKeyLength   int
	sameSlot       bool
	versionETags   bool
	lastWriteBlind bool
}

// LastWriteIgnoresETag is for stores where a save under last-write
// concurrency ignores the ETag it carries, as Dapr's Redis store does; in
// Dapr's other stores (and by default here) a given ETag is checked
// whatever the concurrency. A delete checks its ETag in every store.
func LastWriteIgnoresETag() Option { return func(c *config) { c.lastWriteBlind = true } }

// VersionETags is for stores whose ETags count a key's writes, as Dapr's
// Redis store does: "1" for a new key, one more per write. A key deleted
// and written again starts over at "1", so an ETag held from before the
// delete matches again; other stores never hand out an ETag twice.
func VersionETags() Option { return func(c *config) { c.versionETags = true } }

// SameSlotKeys is for Redis Cluster, where the keys of one transaction must
// hash to one slot: every key of a case carries the case's prefix as a hash
// tag ("{prefix}key"), as an application using transactions there must do.
func SameSlotKeys() Option { return func(c *config) { c.sameSlot = true } }

// MaxKeyLength is for stores whose key column holds at most n characters
// (Dapr's MySQL layout: 255). The long-key case then uses a key of exactly
// n characters and checks that a longer one fails instead of being
// truncated into another key.
func MaxKeyLength(n int) Option { return func(c *config) { c.maxKeyLength = n } }

// JSONNormalized is for stores that keep JSON values in a JSON column and
// return them re-encoded (PostgreSQL's jsonb: sorted keys, spaces after
// separators). A JSON value must then read back as the same JSON document,
// not the same bytes; every other value must still be byte-exact.
func JSONNormalized() Option { return func(c *config) { c.jsonNormalized = true } }

// Run runs the suite against fresh stores from newStore, which returns an
// initialised store and registers its Close with t.Cleanup. Cases for
// ETags, transactions, TTLs and queries run when the store reports the
// feature.
func Run(t *testing.T, newStore func(t *testing.T) state.Store, opts ...Option) {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	runID := randomHex(6)
	cases := []struct {
		name string
		need state.Feature
		run  func(*fixture)
	}{
		{"features", "", testFeatures},
		{"get missing key", "", testGetMissing},
		{"set get delete", "", testSetGetDelete},
		{"overwrite", "", testOverwrite},
		{"values are copied", "", testValuesCopied},
		{"binary values", "", testBinaryValues},
		{"large values", "", testLargeValues},
		{"unusual keys", "", testUnusualKeys},
		{"etag changes on write", state.FeatureETag, testETagChanges},
		{"conditional set", state.FeatureETag, testConditionalSet},
		{"conditional delete", state.FeatureETag, testConditionalDelete},
		{"first write", state.FeatureETag, testFirstWrite},
		{"last write", state.FeatureETag, testLastWrite},
		{"concurrent etag writers", state.FeatureETag, testConcurrentETagWriters},
		{"concurrent first writers", state.FeatureETag, testConcurrentFirstWriters},
		{"transaction applies all", state.FeatureTransactional, testTransactionApplies},
		{"transaction order", state.FeatureTransactional, testTransactionOrder},
		{"transaction rolls back", state.FeatureTransactional, testTransactionRollsBack},
		{"ttl", state.FeatureTTL, testTTL},
		{"query filters", state.FeatureQuery, testQueryFilters},
		{"query sort and pages", state.FeatureQuery, testQueryPages},
		{"query rejects", state.FeatureQuery, testQueryRejects},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			if c.need != "" && !slices.Contains(s.Features(), c.need) {
				t.Skipf("store does not report %s", c.need)
			}
			prefix := fmt.Sprintf("conformance-%s-%02d-", runID, i)
			if cfg.sameSlot {
				prefix = "{" + prefix + "}"
			}
			f := &fixture{t: t, s: s, cfg: cfg, prefix: prefix, written: map[string]bool{}}
			// Registered after newStore's cleanup, so it runs first, while
			// the store is still open.
			t.Cleanup(f.cleanup)
			c.run(f)
		})
	}
}

// fixture is one case's store and the keys it wrote.
type fixture struct {
	t      *testing.T
	s      state.Store
	cfg    config
	prefix string

	mu      sync.Mutex
	written map[string]bool
}

func (f *fixture) key(name string) string {
	k := f.prefix + name
	f.mu.Lock()
	f.written[k] = true
	f.mu.Unlock()
	return k
}

// cleanup deletes every key the case used; the test context is already
// cancelled when cleanups run.
func (f *fixture) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for k := range f.written {
		if err := f.s.Delete(ctx, &state.DeleteRequest{Key: k}); err != nil {
			f.t.Logf("cleanup: delete %q: %v", k, err)
		}
	}
}

func (f *fixture) ctx() context.Context { return f.t.Context() }

func (f *fixture) set(key string, value []byte) {
	f.t.Helper()
	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: key, Value: value}); err != nil {
		f.t.Fatalf("set %q: %v", key, err)
	}
}

func (f *fixture) get(key string) *state.GetResponse {
	f.t.Helper()
	resp, err := f.s.Get(f.ctx(), &state.GetRequest{Key: key})
	if err != nil {
		f.t.Fatalf("get %q: %v", key, err)
	}
	if resp == nil {
		f.t.Fatalf("get %q: nil response", key)
	}
	return resp
}

// want checks that key holds value and returns its ETag ("" when the store
// has none).
func (f *fixture) want(key string, value []byte) string {
	f.t.Helper()
	resp := f.get(key)
	if resp.Data == nil {
		f.t.Fatalf("get %q: missing, want %d bytes", key, len(value))
	}
	if !f.sameValue(resp.Data, value) {
		if len(value) > 256 || len(resp.Data) > 256 {
			f.t.Fatalf("get %q: got %d bytes, want %d bytes (contents differ)", key, len(resp.Data), len(value))
		}
		f.t.Fatalf("get %q: value mismatch (-want +got):\n%s", key, cmp.Diff(value, resp.Data))
	}
	if resp.ETag == nil {
		if slices.Contains(f.s.Features(), state.FeatureETag) {
			f.t.Fatalf("get %q: no etag from a store that reports ETAG", key)
		}
		return ""
	}
	return *resp.ETag
}

// sameValue compares a value read back with the one written: byte for
// byte, or as JSON documents for a store that normalises JSON.
func (f *fixture) sameValue(got, want []byte) bool {
	if bytes.Equal(got, want) {
		return true
	}
	if !f.cfg.jsonNormalized || !json.Valid(want) {
		return false
	}
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil {
		return false
	}
	return cmp.Equal(g, w)
}

func (f *fixture) wantMissing(key string) {
	f.t.Helper()
	resp := f.get(key)
	if resp.Data != nil || resp.ETag != nil {
		f.t.Fatalf("get %q: got %q (etag %v), want missing", key, resp.Data, ptrString(resp.ETag))
	}
}

func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want one wrapping %q", what, err, target)
	}
}

func ptr(s string) *string { return &s }

func ptrString(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testFeatures(f *fixture) {
	_, isTx := f.s.(state.Transactional)
	if reports := slices.Contains(f.s.Features(), state.FeatureTransactional); reports != isTx {
		f.t.Fatalf("reports TRANSACTIONAL = %v but implements Multi = %v", reports, isTx)
	}
	// A store type serving several versions may implement Query for all
	// of them and report QUERY_API only where it works.
	if _, isQuerier := f.s.(state.Querier); slices.Contains(f.s.Features(), state.FeatureQuery) && !isQuerier {
		f.t.Fatal("reports QUERY_API but does not implement Query")
	}
}

func testGetMissing(f *fixture) {
	f.wantMissing(f.key("never-written"))
}

func testSetGetDelete(f *fixture) {
	k := f.key("k")
	f.set(k, []byte(`{"hello":"world"}`))
	f.want(k, []byte(`{"hello":"world"}`))
	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k}); err != nil {
		f.t.Fatalf("delete: %v", err)
	}
	f.wantMissing(k)
	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k}); err != nil {
		f.t.Fatalf("deleting a missing key without an etag: %v, want success", err)
	}
}

func testOverwrite(f *fixture) {
	k := f.key("k")
	f.set(k, []byte("one"))
	f.set(k, []byte("two"))
	f.want(k, []byte("two"))
	// A shorter value must not keep a tail of the longer one.
	f.set(k, []byte("3"))
	f.want(k, []byte("3"))
}

func testValuesCopied(f *fixture) {
	k := f.key("k")
	in := []byte("original")
	f.set(k, in)
	copy(in, "XXXXXXXX")
	got := f.get(k)
	copy(got.Data, "YYYYYYYY")
	f.want(k, []byte("original"))
}

func testBinaryValues(f *fixture) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := []struct {
		name  string
		value []byte
	}{
		{"every byte", all},
		{"invalid utf8", []byte{0xff, 0xfe, 0x00, 'a', 0xc3}},
		{"nul bytes", []byte{0, 0, 0}},
		{"json text", []byte(`{"a":[1,2,{"b":null}],"c":"ü"}`)},
		{"json string", []byte(`"just a string"`)},
		{"base64 look-alike", []byte("aGVsbG8=")},
		{"empty", []byte{}},
	}
	for _, c := range cases {
		k := f.key("bin-" + strings.ReplaceAll(c.name, " ", "-"))
		f.set(k, c.value)
		f.want(k, c.value)
	}
}

func testLargeValues(f *fixture) {
	binary := make([]byte, 1<<20)
	_, _ = rand.Read(binary)
	text := []byte(`"` + strings.Repeat("0123456789abcdef", (1<<20)/16-1) + `"`)
	for name, v := range map[string][]byte{"binary": binary, "text": text} {
		k := f.key("large-" + name)
		f.set(k, v)
		f.want(k, v)
	}
}

func testUnusualKeys(f *fixture) {
	names := []string{
		"app||key",
		"app||key||nested",
		"app|key",
		"ключ-🔑-键-κλειδί",
		"spaces and 'quotes' \"double\"",
		`percent%_under*star?[bracket]\back`,
		"semi;colon--dash/*comment*/",
		"APP||KEY", // differs from the first only in case
	}
	long := strings.Repeat("long", 250)
	if max := f.cfg.maxKeyLength; max > 0 {
		n := max - utf8.RuneCountInString(f.prefix)
		long = long[:n]
		tooLong := f.key(long + "x")
		if err := f.s.Set(f.ctx(), &state.SetRequest{Key: tooLong, Value: []byte("x")}); err == nil {
			f.t.Fatalf("a key of %d characters was accepted by a store whose limit is %d", max+1, max)
		}
		f.wantMissing(tooLong[:len(tooLong)-1])
	}
	names = append(names, long)
	for i, n := range names {
		f.set(f.key(n), []byte(fmt.Sprintf("value-%d", i)))
	}
	// Read back after all writes, so keys that collide would show.
	for i, n := range names {
		f.want(f.key(n), []byte(fmt.Sprintf("value-%d", i)))
	}
}

func testETagChanges(f *fixture) {
	k := f.key("k")
	f.set(k, []byte("v1"))
	e1 := f.want(k, []byte("v1"))
	if e1 == "" {
		f.t.Fatal("empty etag")
	}
	if again := f.want(k, []byte("v1")); again != e1 {
		f.t.Fatalf("etag changed on read: %q then %q", e1, again)
	}
	f.set(k, []byte("v1"))
	e2 := f.want(k, []byte("v1"))
	if e2 == e1 {
		f.t.Fatalf("etag %q unchanged after a write of the same value", e1)
	}
	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k}); err != nil {
		f.t.Fatalf("delete: %v", err)
	}
	f.set(k, []byte("v1"))
	e3 := f.want(k, []byte("v1"))
	if f.cfg.versionETags {
		if e1 != "1" || e2 != "2" || e3 != "1" {
			f.t.Fatalf("etags %q, %q, then %q after a delete; want versions 1, 2, then 1", e1, e2, e3)
		}
		return
	}
	// Delete and write again: the old ETag must not come back.
	if e3 == e1 || e3 == e2 {
		f.t.Fatalf("etag %q reused after delete (earlier %q, %q)", e3, e1, e2)
	}
}

func testConditionalSet(f *fixture) {
	k := f.key("k")
	f.set(k, []byte("v1"))
	e1 := f.want(k, []byte("v1"))

	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("v2"), ETag: &e1}); err != nil {
		f.t.Fatalf("set with the current etag: %v", err)
	}
	e2 := f.want(k, []byte("v2"))
	if e2 == e1 {
		f.t.Fatal("etag unchanged by a conditional write")
	}

	err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("stale"), ETag: &e1})
	wantErrIs(f.t, "set with a stale etag", err, state.ErrETagMismatch)
	if got := f.want(k, []byte("v2")); got != e2 {
		f.t.Fatalf("etag changed by a failed write: %q, want %q", got, e2)
	}

	err = f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("bad"), ETag: ptr("not-an-etag!")})
	wantErrIs(f.t, "set with a malformed etag", err, state.ErrETagInvalid)
	f.want(k, []byte("v2"))

	// An ETag for a key that does not exist cannot match.
	missing := f.key("missing")
	err = f.s.Set(f.ctx(), &state.SetRequest{Key: missing, Value: []byte("x"), ETag: &e2})
	wantErrIs(f.t, "set of a missing key with an etag", err, state.ErrETagMismatch)
	f.wantMissing(missing)

	// An empty ETag is no ETag.
	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("v3"), ETag: ptr("")}); err != nil {
		f.t.Fatalf("set with an empty etag: %v", err)
	}
	f.want(k, []byte("v3"))
}

func testConditionalDelete(f *fixture) {
	k := f.key("k")
	f.set(k, []byte("v1"))
	e1 := f.want(k, []byte("v1"))
	f.set(k, []byte("v2"))
	e2 := f.want(k, []byte("v2"))

	err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k, ETag: &e1})
	wantErrIs(f.t, "delete with a stale etag", err, state.ErrETagMismatch)
	f.want(k, []byte("v2"))

	err = f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k, ETag: ptr("not-an-etag!")})
	wantErrIs(f.t, "delete with a malformed etag", err, state.ErrETagInvalid)
	f.want(k, []byte("v2"))

	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k, ETag: &e2}); err != nil {
		f.t.Fatalf("delete with the current etag: %v", err)
	}
	f.wantMissing(k)

	err = f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k, ETag: &e2})
	wantErrIs(f.t, "delete of a missing key with an etag", err, state.ErrETagMismatch)
}

func testFirstWrite(f *fixture) {
	k := f.key("k")
	fw := state.Options{Concurrency: state.FirstWrite}
	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("first"), Options: fw}); err != nil {
		f.t.Fatalf("first write of a new key: %v", err)
	}
	e1 := f.want(k, []byte("first"))

	for _, etag := range []*string{nil, ptr("")} {
		err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("second"), Options: fw, ETag: etag})
		wantErrIs(f.t, fmt.Sprintf("second first-write with etag %s", ptrString(etag)), err, state.ErrETagMismatch)
		f.want(k, []byte("first"))
	}

	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("update"), Options: fw, ETag: &e1}); err != nil {
		f.t.Fatalf("first-write with the current etag: %v", err)
	}
	f.want(k, []byte("update"))
	err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("stale"), Options: fw, ETag: &e1})
	wantErrIs(f.t, "first-write with a stale etag", err, state.ErrETagMismatch)

	// Last-write (the default) still overwrites, and first-write without
	// an ETag then still fails: the key exists, however it was written.
	f.set(k, []byte("last"))
	f.want(k, []byte("last"))
	err = f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("second"), Options: fw})
	wantErrIs(f.t, "first-write over a key last written with last-write", err, state.ErrETagMismatch)
	f.want(k, []byte("last"))

	// An ETag cannot match a key that does not exist.
	missing := f.key("missing")
	err = f.s.Set(f.ctx(), &state.SetRequest{Key: missing, Value: []byte("x"), Options: fw, ETag: &e1})
	wantErrIs(f.t, "first-write of a missing key with an etag", err, state.ErrETagMismatch)
	f.wantMissing(missing)

	// Once deleted, the key can be first-written again.
	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k}); err != nil {
		f.t.Fatalf("delete: %v", err)
	}
	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("again"), Options: fw}); err != nil {
		f.t.Fatalf("first write after delete: %v", err)
	}
	f.want(k, []byte("again"))
}

// testLastWrite checks what an ETag does under last-write concurrency:
// ignored by a save where the store says so (Dapr's Redis store, and
// programs written for it, the Go SDK's examples among them, count on it),
// checked otherwise, and always checked by a delete.
func testLastWrite(f *fixture) {
	lw := state.Options{Concurrency: state.LastWrite}
	k := f.key("k")
	f.set(k, []byte("v1"))
	e1 := f.want(k, []byte("v1"))
	f.set(k, []byte("v2"))
	e2 := f.want(k, []byte("v2"))
	missing := f.key("missing")
	if !f.cfg.lastWriteBlind {
		err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("stale"), ETag: &e1, Options: lw})
		wantErrIs(f.t, "last-write with a stale etag", err, state.ErrETagMismatch)
		err = f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("bad"), ETag: ptr("not-an-etag!"), Options: lw})
		wantErrIs(f.t, "last-write with a malformed etag", err, state.ErrETagInvalid)
		err = f.s.Set(f.ctx(), &state.SetRequest{Key: missing, Value: []byte("new"), ETag: &e2, Options: lw})
		wantErrIs(f.t, "last-write of a missing key with an etag", err, state.ErrETagMismatch)
		f.wantMissing(missing)
		if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("v3"), ETag: &e2, Options: lw}); err != nil {
			f.t.Fatalf("last-write with the current etag: %v", err)
		}
		f.want(k, []byte("v3"))
	} else {
		for i, etag := range []*string{&e1, ptr("not-an-etag!")} {
			v := fmt.Appendf(nil, "v%d", 3+i)
			if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: v, ETag: etag, Options: lw}); err != nil {
				f.t.Fatalf("last-write with etag %s: %v", ptrString(etag), err)
			}
			f.want(k, v)
		}
		if err := f.s.Set(f.ctx(), &state.SetRequest{Key: missing, Value: []byte("new"), ETag: &e2, Options: lw}); err != nil {
			f.t.Fatalf("last-write of a missing key with an etag: %v", err)
		}
		f.want(missing, []byte("new"))
		if _, ok := f.s.(state.Transactional); ok {
			op := state.Operation{Set: &state.SetRequest{Key: k, Value: []byte("v3"), ETag: &e1, Options: lw}}
			if err := f.multi(op); err != nil {
				f.t.Fatalf("transaction with a last-write save and a stale etag: %v", err)
			}
			f.want(k, []byte("v3"))
		}
	}

	err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k, ETag: &e1, Options: lw})
	wantErrIs(f.t, "last-write delete with a stale etag", err, state.ErrETagMismatch)
	f.want(k, []byte("v3"))
	if err := f.s.Delete(f.ctx(), &state.DeleteRequest{Key: k, Options: lw}); err != nil {
		f.t.Fatalf("last-write delete without an etag: %v", err)
	}
	f.wantMissing(k)
}

// race runs n writers at once and returns which succeeded; every failure
// must be an ETag mismatch.
func race(f *fixture, n int, write func(i int) error) []int {
	f.t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  []int
		other []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := write(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, i)
			case !errors.Is(err, state.ErrETagMismatch):
				other = append(other, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(other) > 0 {
		f.t.Fatalf("writers failed with errors other than an etag mismatch: %v", errors.Join(other...))
	}
	return wins
}

func testConcurrentETagWriters(f *fixture) {
	const rounds, writers = 5, 8
	k := f.key("k")
	f.set(k, []byte("start"))
	for r := range rounds {
		etag := ptrString(f.get(k).ETag)
		wins := race(f, writers, func(i int) error {
			v := fmt.Appendf(nil, "round-%d-writer-%d", r, i)
			return f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: v, ETag: &etag})
		})
		if len(wins) != 1 {
			f.t.Fatalf("round %d: %d writers succeeded with the same etag, want exactly 1", r, len(wins))
		}
		f.want(k, fmt.Appendf(nil, "round-%d-writer-%d", r, wins[0]))
	}
}

func testConcurrentFirstWriters(f *fixture) {
	const writers = 8
	k := f.key("k")
	wins := race(f, writers, func(i int) error {
		return f.s.Set(f.ctx(), &state.SetRequest{
			Key: k, Value: fmt.Appendf(nil, "writer-%d", i), Options: state.Options{Concurrency: state.FirstWrite},
		})
	})
	if len(wins) != 1 {
		f.t.Fatalf("%d first-writers succeeded on a new key, want exactly 1", len(wins))
	}
	f.want(k, fmt.Appendf(nil, "writer-%d", wins[0]))
}

func (f *fixture) multi(ops ...state.Operation) error {
	return f.s.(state.Transactional).Multi(f.ctx(), &state.TransactionRequest{Operations: ops})
}

func setOp(key, value string) state.Operation {
	return state.Operation{Set: &state.SetRequest{Key: key, Value: []byte(value)}}
}

func deleteOp(key string) state.Operation {
	return state.Operation{Delete: &state.DeleteRequest{Key: key}}
}

func testTransactionApplies(f *fixture) {
	a, b := f.key("a"), f.key("b")
	f.set(b, []byte("old"))
	if err := f.multi(setOp(a, "new"), deleteOp(b)); err != nil {
		f.t.Fatalf("multi: %v", err)
	}
	f.want(a, []byte("new"))
	f.wantMissing(b)

	if err := f.multi(); err != nil {
		f.t.Fatalf("empty transaction: %v", err)
	}
	if err := f.multi(deleteOp(f.key("never-written"))); err != nil {
		f.t.Fatalf("transaction deleting a missing key: %v", err)
	}

	// Conditions that hold are applied.
	ea := f.want(a, []byte("new"))
	c := f.key("c")
	err := f.multi(
		state.Operation{Set: &state.SetRequest{Key: a, Value: []byte("newer"), ETag: &ea}},
		state.Operation{Set: &state.SetRequest{Key: c, Value: []byte("c"), Options: state.Options{Concurrency: state.FirstWrite}}},
	)
	if err != nil {
		f.t.Fatalf("multi with matching conditions: %v", err)
	}
	f.want(a, []byte("newer"))
	f.want(c, []byte("c"))
}

func testTransactionOrder(f *fixture) {
	k1, k2, k3 := f.key("k1"), f.key("k2"), f.key("k3")
	f.set(k1, []byte("v1"))
	err := f.multi(deleteOp(k1), setOp(k2, "v2"), deleteOp(k2), setOp(k3, "v3"), setOp(k3, "v3-final"))
	if err != nil {
		f.t.Fatalf("multi: %v", err)
	}
	f.wantMissing(k1)
	f.wantMissing(k2)
	f.want(k3, []byte("v3-final"))
}

func testTransactionRollsBack(f *fixture) {
	kept, added := f.key("kept"), f.key("added")
	f.set(kept, []byte("orig"))
	etag := f.want(kept, []byte("orig"))
	f.set(kept, []byte("orig"))
	current := f.want(kept, []byte("orig"))
	stale := etag

	cases := []struct {
		name string
		ops  []state.Operation
		want error
	}{
		{
			name: "stale etag on a set",
			ops: []state.Operation{
				setOp(added, "x"),
				{Set: &state.SetRequest{Key: kept, Value: []byte("changed"), ETag: &stale}},
			},
			want: state.ErrETagMismatch,
		},
		{
			name: "stale etag on a delete",
			ops: []state.Operation{
				setOp(added, "x"),
				{Delete: &state.DeleteRequest{Key: kept, ETag: &stale}},
			},
			want: state.ErrETagMismatch,
		},
		{
			name: "etag on a missing key",
			ops: []state.Operation{
				deleteOp(kept),
				{Set: &state.SetRequest{Key: added, Value: []byte("x"), ETag: &current}},
			},
			want: state.ErrETagMismatch,
		},
		{
			name: "first-write on an existing key",
			ops: []state.Operation{
				setOp(added, "x"),
				{Set: &state.SetRequest{Key: kept, Value: []byte("y"), Options: state.Options{Concurrency: state.FirstWrite}}},
			},
			want: state.ErrETagMismatch,
		},
		{
			name: "malformed etag",
			ops: []state.Operation{
				deleteOp(kept),
				{Set: &state.SetRequest{Key: added, Value: []byte("x"), ETag: ptr("not-an-etag!")}},
			},
			want: state.ErrETagInvalid,
		},
	}
	for _, c := range cases {
		err := f.multi(c.ops...)
		wantErrIs(f.t, c.name, err, c.want)
		if got := f.want(kept, []byte("orig")); got != current {
			f.t.Fatalf("%s: etag of an untouched key changed from %q to %q", c.name, current, got)
		}
		f.wantMissing(added)
	}
}

func testTTL(f *fixture) {
	ttl := func(v string) map[string]string { return map[string]string{state.TTLMetadata: v} }
	expiring, cleared, forever, marker := f.key("expiring"), f.key("cleared"), f.key("forever"), f.key("marker")

	for _, bad := range []string{"soon", "-2", "1.5"} {
		err := f.s.Set(f.ctx(), &state.SetRequest{Key: f.key("bad"), Value: []byte("x"), Metadata: ttl(bad)})
		if err == nil {
			f.t.Fatalf("ttlInSeconds=%q accepted, want an error", bad)
		}
		f.wantMissing(f.key("bad"))
	}

	for _, k := range []string{expiring, cleared} {
		if err := f.s.Set(f.ctx(), &state.SetRequest{Key: k, Value: []byte("v"), Metadata: ttl("1")}); err != nil {
			f.t.Fatalf("set with ttl: %v", err)
		}
	}
	etag := f.want(expiring, []byte("v"))
	// A write without a TTL makes the key permanent again.
	f.set(cleared, []byte("kept"))
	if err := f.s.Set(f.ctx(), &state.SetRequest{Key: forever, Value: []byte("v"), Metadata: ttl("-1")}); err != nil {
		f.t.Fatalf("set with ttl -1: %v", err)
	}
	// marker expires after every TTL above would have; where the store is
	// transactional it is written in a transaction, which must honour TTLs
	// too.
	markerReq := &state.SetRequest{Key: marker, Value: []byte("m"), Metadata: ttl("1")}
	var err error
	if tx, ok := f.s.(state.Transactional); ok {
		err = tx.Multi(f.ctx(), &state.TransactionRequest{Operations: []state.Operation{{Set: markerReq}}})
	} else {
		err = f.s.Set(f.ctx(), markerReq)
	}
	if err != nil {
		f.t.Fatalf("set marker with ttl: %v", err)
	}

	deadline := time.Now().Add(ttlDeadline)
	for _, k := range []string{expiring, marker} {
		for f.get(k).Data != nil {
			if time.Now().After(deadline) {
				f.t.Fatalf("%q still visible %s after a 1s ttl", k, ttlDeadline)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	f.wantMissing(expiring)
	f.want(cleared, []byte("kept"))
	f.want(forever, []byte("v"))

	// An expired key behaves as a missing one.
	err = f.s.Set(f.ctx(), &state.SetRequest{Key: expiring, Value: []byte("x"), ETag: &etag})
	wantErrIs(f.t, "set of an expired key with its old etag", err, state.ErrETagMismatch)
	err = f.s.Set(f.ctx(), &state.SetRequest{Key: expiring, Value: []byte("again"), Options: state.Options{Concurrency: state.FirstWrite}})
	if err != nil {
		f.t.Fatalf("first-write of an expired key: %v", err)
	}
	f.want(expiring, []byte("again"))
}
