package sidecar

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/components"
	cstate "github.com/cove-env/cove/internal/components/state"
	_ "github.com/cove-env/cove/internal/components/state/inmemory"
	_ "github.com/cove-env/cove/internal/components/state/sqlite"
)

const storeName = "statestore"

// newStateAPI returns the state API the state tests run against: the real
// state block with one store, storeName, of type state.in-memory.
func newStateAPI(t testing.TB) StateAPI {
	t.Helper()
	return newStateService(t, storeName)
}

// newStateService returns the state block for app "frontend" with an
// in-memory store under each name. A name ending in "-notx" gets a store
// that hides its transactions.
func newStateService(t testing.TB, names ...string) *state.Service {
	t.Helper()
	svc := state.New("frontend")
	for _, name := range names {
		md := components.Metadata{Name: name, Type: "state.in-memory", Version: "v1", AppID: "frontend"}
		info, err := components.Lookup(md.Type, md.Version)
		if err != nil {
			t.Fatal(err)
		}
		store, ok := info.New().(cstate.Store)
		if !ok {
			t.Fatalf("%s is not a state store", md.Type)
		}
		if err := store.Init(context.Background(), md); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		if strings.HasSuffix(name, "-notx") {
			store = noTx{store}
		}
		if err := svc.Add(md, store); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// noTx is a store that does not offer transactions.
type noTx struct{ cstate.Store }

func (s noTx) Features() []cstate.Feature {
	return slices.DeleteFunc(s.Store.Features(), func(f cstate.Feature) bool { return f == cstate.FeatureTransactional })
}

// stateURL is the state API URL of key (or of the store when key is "").
func (e *testEnv) stateURL(key string) string {
	u := e.url + "/v1.0/state/" + storeName
	if key != "" {
		u += "/" + key
	}
	return u
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t testing.TB, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d (body %s)", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
}

// getETag reads key of the default store and returns its value and ETag.
func getETag(t testing.TB, env *testEnv, key string) (string, string) {
	t.Helper()
	return getETagFrom(t, env, storeName, key)
}

func TestStateSaveGetDelete(t *testing.T) {
	env := newEnv(t, Config{State: newStateAPI(t)})
	k := strings.ReplaceAll(t.Name(), "/", "-")
	k1, k2 := k+"-obj", k+"-str"

	save := mustJSON(t, []map[string]any{
		{"key": k1, "value": json.RawMessage(`{"b": 1, "a": "x", "n": 2.50}`)},
		{"key": k2, "value": "hello"},
	})
	resp, body := do(t, http.MethodPost, env.stateURL(""), save, nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	// Values come back as daprd stores them: re-encoded JSON.
	v1, etag1 := getETag(t, env, k1)
	if v1 != `{"a":"x","b":1,"n":2.5}` {
		t.Errorf("GET %s = %s", k1, v1)
	}
	if v2, _ := getETag(t, env, k2); v2 != `"hello"` {
		t.Errorf("GET %s = %s, want the JSON string", k2, v2)
	}

	// A second write makes etag1 stale.
	resp, body = do(t, http.MethodPost, env.stateURL(""), mustJSON(t, []map[string]any{{"key": k1, "value": 2, "etag": etag1}}), nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	_, etag2 := getETag(t, env, k1)
	if etag2 == etag1 {
		t.Fatalf("ETag did not change on write: %q", etag2)
	}

	resp, body = do(t, http.MethodPost, env.stateURL(""), mustJSON(t, []map[string]any{{"key": k1, "value": 3, "etag": etag1}}), nil)
	wantDaprError(t, resp, body, http.StatusConflict, "ERR_STATE_SAVE")

	resp, body = do(t, http.MethodDelete, env.stateURL(k1), "", http.Header{"If-Match": {etag1}})
	wantDaprError(t, resp, body, http.StatusConflict, "ERR_STATE_DELETE")

	resp, body = do(t, http.MethodDelete, env.stateURL(k1), "", http.Header{"If-Match": {etag2}})
	wantStatus(t, resp, body, http.StatusNoContent)

	for _, key := range []string{k1, k + "-never-written"} {
		resp, body = do(t, http.MethodGet, env.stateURL(key), "", nil)
		wantStatus(t, resp, body, http.StatusNoContent)
		if len(body) != 0 {
			t.Errorf("GET missing %s answered a body: %q", key, body)
		}
	}

	// An unconditional delete of what is left.
	resp, body = do(t, http.MethodDelete, env.stateURL(k2), "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestStateBulkGet(t *testing.T) {
	env := newEnv(t, Config{State: newStateAPI(t)})
	k := t.Name()
	resp, body := do(t, http.MethodPost, env.stateURL(""), mustJSON(t, []map[string]any{
		{"key": k + "-1", "value": map[string]int{"n": 1}},
		{"key": k + "-2", "value": "two"},
	}), nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	_, etag1 := getETag(t, env, k+"-1")
	_, etag2 := getETag(t, env, k+"-2")

	resp, body = do(t, http.MethodPost, env.stateURL("bulk"),
		mustJSON(t, map[string]any{"keys": []string{k + "-1", k + "-2", k + "-missing"}, "parallelism": 2}), nil)
	wantStatus(t, resp, body, http.StatusOK)
	type item struct {
		Key   string          `json:"key"`
		Data  json.RawMessage `json:"data,omitempty"`
		ETag  *string         `json:"etag,omitempty"`
		Error string          `json:"error,omitempty"`
	}
	var got []item
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("bulk answer %s: %v", body, err)
	}
	want := []item{
		{Key: k + "-1", Data: json.RawMessage(`{"n":1}`), ETag: &etag1},
		{Key: k + "-2", Data: json.RawMessage(`"two"`), ETag: &etag2},
		{Key: k + "-missing"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bulk get (-want +got):\n%s", diff)
	}

	resp, body = do(t, http.MethodPost, env.stateURL("bulk"), `{"keys":[]}`, nil)
	wantStatus(t, resp, body, http.StatusOK)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("bulk get of no keys = %s, want []", body)
	}
}

func TestStateTransaction(t *testing.T) {
	env := newEnv(t, Config{State: newStateAPI(t)})
	k := t.Name()
	resp, body := do(t, http.MethodPost, env.stateURL(""), mustJSON(t, []map[string]any{{"key": k + "-old", "value": 1}}), nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	tx := mustJSON(t, map[string]any{
		"operations": []map[string]any{
			{"operation": "upsert", "request": map[string]any{"key": k + "-new", "value": map[string]any{"z": true, "a": nil}}},
			{"operation": "delete", "request": map[string]any{"key": k + "-old"}},
		},
	})
	resp, body = do(t, http.MethodPost, env.stateURL("transaction"), tx, nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	if v, _ := getETag(t, env, k+"-new"); v != `{"a":null,"z":true}` {
		t.Errorf("upserted value = %s", v)
	}
	resp, body = do(t, http.MethodGet, env.stateURL(k+"-old"), "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	resp, body = do(t, http.MethodPost, env.stateURL("transaction"), `{"operations":[]}`, nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	resp, body = do(t, http.MethodDelete, env.stateURL(k+"-new"), "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestStateErrors(t *testing.T) {
	env := newEnv(t, Config{State: newStateAPI(t)})
	bare := newEnv(t, Config{AppID: "stateless"})
	tests := []struct {
		name       string
		env        *testEnv
		verb, path string
		body       string
		header     http.Header
		status     int
		code       string
	}{
		{name: "get unknown store", env: env, verb: "GET", path: "/v1.0/state/nope/k", status: 400, code: "ERR_STATE_STORE_NOT_FOUND"},
		{name: "save unknown store", env: env, verb: "POST", path: "/v1.0/state/nope", body: "not json", status: 400, code: "ERR_STATE_STORE_NOT_FOUND"},
		{name: "delete unknown store", env: env, verb: "DELETE", path: "/v1.0/state/nope/k", status: 400, code: "ERR_STATE_STORE_NOT_FOUND"},
		{name: "bulk unknown store", env: env, verb: "POST", path: "/v1.0/state/nope/bulk", body: `{"keys":["a"]}`, status: 400, code: "ERR_STATE_STORE_NOT_FOUND"},
		{name: "transaction unknown store", env: env, verb: "POST", path: "/v1.0/state/nope/transaction", body: `{}`, status: 400, code: "ERR_STATE_STORE_NOT_FOUND"},
		{name: "save malformed", env: env, verb: "POST", path: "/v1.0/state/" + storeName, body: `[{"key":`, status: 400, code: "ERR_MALFORMED_REQUEST"},
		{name: "save not an array", env: env, verb: "POST", path: "/v1.0/state/" + storeName, body: `{"key":"a"}`, status: 400, code: "ERR_MALFORMED_REQUEST"},
		{name: "save without key", env: env, verb: "POST", path: "/v1.0/state/" + storeName, body: `[{"value":1}]`, status: 400, code: "ERR_MALFORMED_REQUEST"},
		{name: "bulk malformed", env: env, verb: "PUT", path: "/v1.0/state/" + storeName + "/bulk", body: `{"keys":`, status: 400, code: "ERR_MALFORMED_REQUEST"},
		{name: "transaction malformed", env: env, verb: "POST", path: "/v1.0/state/" + storeName + "/transaction", body: `{"operations":{}}`, status: 400, code: "ERR_MALFORMED_REQUEST"},
		{name: "transaction unknown operation", env: env, verb: "POST", path: "/v1.0/state/" + storeName + "/transaction", body: `{"operations":[{"operation":"merge","request":{"key":"k"}}]}`, status: 400, code: "ERR_NOT_SUPPORTED_STATE_OPERATION"},
		{name: "key with the prefix separator", env: env, verb: "GET", path: "/v1.0/state/" + storeName + "/a||b", status: 400, code: "ERR_MALFORMED_REQUEST"},
		{name: "invalid etag", env: env, verb: "DELETE", path: "/v1.0/state/" + storeName + "/k", header: http.Header{"If-Match": {"not-a-number"}}, status: 400, code: "ERR_STATE_DELETE"},
		{name: "no stores configured", env: bare, verb: "GET", path: "/v1.0/state/" + storeName + "/k", status: 500, code: "ERR_STATE_STORE_NOT_CONFIGURED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.verb, tc.env.url+tc.path, tc.body, tc.header)
			wantDaprError(t, resp, body, tc.status, tc.code)
		})
	}
}

// TestStateRequestMapping checks how HTTP requests translate to the
// block's arguments (query metadata merged over body metadata, options),
// which only a recording StateAPI can observe.
func TestStateRequestMapping(t *testing.T) {
	fake := newFakeState(state.StoreInfo{Name: storeName, Capabilities: []string{"TRANSACTIONAL"}})
	env := newEnv(t, Config{State: fake})

	resp, body := do(t, http.MethodGet, env.stateURL("k")+"?consistency=strong&metadata.partitionKey=p1&other=x", "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	if diff := cmp.Diff(state.GetOptions{Consistency: "strong", Metadata: map[string]string{"partitionKey": "p1"}}, fake.lastGet); diff != "" {
		t.Errorf("get options (-want +got):\n%s", diff)
	}

	save := `[{"key":"k","value":{"x":1},"metadata":{"ttlInSeconds":"5","a":"body"},"options":{"concurrency":"first-write","consistency":"strong"},"contentType":"application/json"}]`
	resp, body = do(t, http.MethodPost, env.stateURL("")+"?metadata.a=query", save, nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	wantSaved := []state.SaveItem{{
		Key: "k", Value: []byte(`{"x":1}`), Metadata: map[string]string{"ttlInSeconds": "5", "a": "query"},
		Concurrency: "first-write", Consistency: "strong", ContentType: "application/json",
	}}
	if diff := cmp.Diff(wantSaved, fake.lastSaved); diff != "" {
		t.Errorf("saved items (-want +got):\n%s", diff)
	}

	etag := fake.data[storeName+"/k"].etag
	tx := `{"operations":[{"operation":"delete","request":{"key":"k","etag":"` + etag + `","options":{"concurrency":"first-write"}}}],"metadata":{"m":"1"}}`
	resp, body = do(t, http.MethodPost, env.stateURL("transaction")+"?metadata.q=2", tx, nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	wantOps := []state.TxOperation{{Operation: "delete", Delete: state.DeleteItem{
		Key: "k", ETag: &etag, Metadata: map[string]string{"q": "2"}, Concurrency: "first-write",
	}}}
	if diff := cmp.Diff(wantOps, fake.lastTx); diff != "" {
		t.Errorf("transaction operations (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"m": "1", "q": "2"}, fake.lastTxMD); diff != "" {
		t.Errorf("transaction metadata (-want +got):\n%s", diff)
	}

	resp, body = do(t, http.MethodPost, env.stateURL("transaction"), `{"operations":[{"operation":"upsert","request":{"key":"k"}}]}`, nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	if got := string(fake.lastTx[0].Save.Value); got != "null" {
		t.Errorf("an upsert without a value stored %q, want null as daprd does", got)
	}
}

func TestStateNonTransactionalStore(t *testing.T) {
	env := newEnv(t, Config{State: newStateService(t, "plain-notx")})
	resp, body := do(t, http.MethodPost, env.url+"/v1.0/state/plain-notx/transaction", `{"operations":[]}`, nil)
	wantDaprError(t, resp, body, http.StatusInternalServerError, "ERR_STATE_STORE_NOT_SUPPORTED")
}

func TestEncodeValue(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "absent", in: "", want: "null"},
		{name: "object keys sorted", in: `{ "b": 1, "a": [1, 2] }`, want: `{"a":[1,2],"b":1}`},
		{name: "numbers as float64", in: `1.50e2`, want: `150`},
		{name: "string", in: `"hi"`, want: `"hi"`},
		{name: "html escaped", in: `"<a&b>"`, want: `"\u003ca\u0026b\u003e"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeValue(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("encodeValue(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// serveQuery posts a query to the sidecar's real server.
func serveQuery(t *testing.T, env *testEnv, store, rawQuery, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodPost, env.url+"/v1.0-alpha1/state/"+store+"/query?"+rawQuery, body, nil)
}

func TestStateQuery(t *testing.T) {
	svc := newStateService(t, storeName)
	md := components.Metadata{Name: "db", Type: "state.sqlite", Version: "v1", AppID: "frontend", Properties: map[string]string{"connectionString": ":memory:"}}
	info, err := components.Lookup(md.Type, md.Version)
	if err != nil {
		t.Fatal(err)
	}
	store := info.New().(cstate.Store)
	if err := store.Init(t.Context(), md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := svc.Add(md, store); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, Config{State: svc})
	save := `[{"key":"1","value":{"city":"Seattle","n":2}},{"key":"2","value":{"city":"Portland","n":1}},{"key":"3","value":{"city":"Seattle","n":3}}]`
	resp, body := do(t, http.MethodPost, env.url+"/v1.0/state/db", save, nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	resp, body = serveQuery(t, env, "db", "", `{"filter":{"EQ":{"city":"Seattle"}},"sort":[{"key":"n","order":"DESC"}],"page":{"limit":1}}`)
	wantStatus(t, resp, body, http.StatusOK)
	var got struct {
		Results []struct {
			Key  string          `json:"key"`
			Data json.RawMessage `json:"data"`
			ETag string          `json:"etag"`
		} `json:"results"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	_, etag := getETagFrom(t, env, "db", "3")
	if len(got.Results) != 1 || got.Results[0].Key != "3" || string(got.Results[0].Data) != `{"city":"Seattle","n":3}` ||
		got.Results[0].ETag != etag || got.Token != "1" {
		t.Fatalf("query answered %s, want key 3 with etag %s and token 1", body, etag)
	}

	resp, body = serveQuery(t, env, "db", "metadata.contentType=application/json", `{"filter":{"EQ":{"city":"Paris"}}}`)
	wantStatus(t, resp, body, http.StatusNoContent)

	tests := []struct {
		name, store, body string
		status            int
		code              string
	}{
		{"store without queries", storeName, `{}`, http.StatusInternalServerError, "ERR_STATE_STORE_NOT_SUPPORTED"},
		{"unknown store", "nope", `{}`, http.StatusBadRequest, "ERR_STATE_STORE_NOT_FOUND"},
		{"malformed query", "db", `{"filter":`, http.StatusBadRequest, "ERR_STATE_QUERY"},
		{"unsupported operator", "db", `{"filter":{"NEQ":{"city":"x"}}}`, http.StatusBadRequest, "ERR_STATE_QUERY"},
		{"bad page token", "db", `{"page":{"limit":1,"token":"x"}}`, http.StatusBadRequest, "ERR_STATE_QUERY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := serveQuery(t, env, tt.store, "", tt.body)
			wantDaprError(t, resp, body, tt.status, tt.code)
		})
	}
}

// getETagFrom reads key of store and returns its value and ETag.
func getETagFrom(t testing.TB, env *testEnv, store, key string) (string, string) {
	t.Helper()
	resp, body := do(t, http.MethodGet, env.url+"/v1.0/state/"+store+"/"+key, "", nil)
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Errorf("GET %s: no ETag header", key)
	}
	return string(body), etag
}

// Keys that hold "/", dot segments, spaces or "+" are read and deleted by
// URL as daprd reads them: one escaped path segment ("a%2Fb"), cleaned
// before it is unescaped, then unescaped as a query value ("+" is a space).
func TestStateKeysInURLs(t *testing.T) {
	env := newEnv(t, Config{State: newStateAPI(t)})
	keys := []string{"a/b", "..", "x/../y", "y", "a b", "a+b"}
	var items []map[string]any
	for i, k := range keys {
		items = append(items, map[string]any{"key": k, "value": i})
	}
	resp, body := do(t, http.MethodPost, env.stateURL(""), mustJSON(t, items), nil)
	wantStatus(t, resp, body, http.StatusNoContent)

	for path, want := range map[string]string{
		"a%2Fb":      "0",
		"%2E%2E":     "1",
		"x%2F..%2Fy": "2",
		"y":          "3",
		"a+b":        "4",
		"a%20b":      "4",
		"a%2Bb":      "5",
	} {
		resp, body := do(t, http.MethodGet, env.stateURL(path), "", nil)
		wantStatus(t, resp, body, http.StatusOK)
		if string(body) != want {
			t.Errorf("GET %s = %s, want %s", path, body, want)
		}
	}
	resp, body = do(t, http.MethodDelete, env.stateURL("x%2F..%2Fy"), "", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	for path, want := range map[string]int{"x%2F..%2Fy": http.StatusNoContent, "y": http.StatusOK} {
		resp, body := do(t, http.MethodGet, env.stateURL(path), "", nil)
		wantStatus(t, resp, body, want)
	}
}
