package sidecar

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/cove-env/cove/internal/blocks/state"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/sidecar/statevalue"
)

// Query parameters of the state API, as daprd names them.
const (
	metadataPrefix   = "metadata."
	consistencyParam = "consistency"
	concurrencyParam = "concurrency"
)

// stateStore returns the path's store name once a store answers to it, before the
// body is looked at, so errors come in daprd's order.
func (s *Sidecar) stateStore(r *http.Request) (string, error) {
	name := r.PathValue("store")
	if s.cfg.State == nil {
		return "", daprerr.New(daprerr.StateStoresNotConfigured, "state store %s is not configured", name)
	}
	return name, s.cfg.State.Check(name)
}

// queryMetadata collects the metadata.<key> query parameters; nil when
// there are none.
func queryMetadata(r *http.Request) map[string]string {
	if !strings.Contains(r.URL.RawQuery, metadataPrefix) {
		return nil
	}
	var md map[string]string
	for k, v := range r.URL.Query() {
		if name, ok := strings.CutPrefix(k, metadataPrefix); ok && len(v) > 0 {
			if md == nil {
				md = map[string]string{}
			}
			md[name] = v[0]
		}
	}
	return md
}

// mergeMetadata lays the query's metadata over a body's, the query
// winning as in daprd.
func mergeMetadata(body, query map[string]string) map[string]string {
	if body == nil {
		return query
	}
	maps.Copy(body, query)
	return body
}

// stateOptions are a write's options in the request body.
type stateOptions struct {
	Concurrency string `json:"concurrency"`
	Consistency string `json:"consistency"`
}

// stateItem is one key of a save request or one transaction operation's
// request.
type stateItem struct {
	Key         string            `json:"key"`
	Value       json.RawMessage   `json:"value"`
	ETag        *string           `json:"etag"`
	Metadata    map[string]string `json:"metadata"`
	Options     stateOptions      `json:"options"`
	ContentType *string           `json:"contentType"`
}

func (it *stateItem) saveItem(md map[string]string) (state.SaveItem, error) {
	value, err := encodeValue(it.Value)
	if err != nil {
		return state.SaveItem{}, err
	}
	out := state.SaveItem{
		Key:         it.Key,
		Value:       value,
		ETag:        it.ETag,
		Metadata:    md,
		Concurrency: it.Options.Concurrency,
		Consistency: it.Options.Consistency,
	}
	if it.ContentType != nil {
		out.ContentType = *it.ContentType
	}
	return out, nil
}

func (it *stateItem) deleteItem(md map[string]string) state.DeleteItem {
	return state.DeleteItem{
		Key:         it.Key,
		ETag:        it.ETag,
		Metadata:    md,
		Concurrency: it.Options.Concurrency,
		Consistency: it.Options.Consistency,
	}
}

// encodeValue gives the bytes daprd stores for a request's value.
func encodeValue(raw json.RawMessage) ([]byte, error) {
	return statevalue.FromJSON(raw)
}

func malformed(err error, format string, args ...any) *daprerr.Error {
	msg := fmt.Sprintf(format, args...)
	return &daprerr.Error{Kind: daprerr.Malformed, Message: msg + err.Error(), Cause: err}
}

// saveState serves POST /v1.0/state/{store}.
func (s *Sidecar) saveState(w http.ResponseWriter, r *http.Request) error {
	store, err := s.stateStore(r)
	if err != nil {
		return err
	}
	var reqs []stateItem
	if err := json.NewDecoder(r.Body).Decode(&reqs); err != nil {
		return malformed(err, "")
	}
	if len(reqs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	md := queryMetadata(r)
	items := make([]state.SaveItem, len(reqs))
	for i := range reqs {
		if reqs[i].Key == "" {
			return daprerr.New(daprerr.Malformed, `"key" is a required field`)
		}
		items[i], err = reqs[i].saveItem(mergeMetadata(reqs[i].Metadata, md))
		if err != nil {
			return malformed(err, "")
		}
	}
	if err := s.cfg.State.Save(r.Context(), store, items); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stateKey is the {key} of a state route as daprd reads it: the last
// segment of the path as sent, unescaped as a query value, so "+" is a
// space and "%2B" a plus.
func stateKey(r *http.Request) string {
	p := r.URL.EscapedPath()
	raw := p[strings.LastIndexByte(p, '/')+1:]
	if k, err := url.QueryUnescape(raw); err == nil {
		return k
	}
	return r.PathValue("key")
}

// getState serves GET /v1.0/state/{store}/{key}: 200 with the stored bytes,
// 204 for a missing key.
func (s *Sidecar) getState(w http.ResponseWriter, r *http.Request) error {
	store, err := s.stateStore(r)
	if err != nil {
		return err
	}
	var consistency string
	if r.URL.RawQuery != "" {
		consistency = r.URL.Query().Get(consistencyParam)
	}
	item, err := s.cfg.State.Get(r.Context(), store, stateKey(r), state.GetOptions{
		Consistency: consistency,
		Metadata:    queryMetadata(r),
	})
	if err != nil {
		return err
	}
	if item == nil || !item.Found {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	h := w.Header()
	if item.ETag != "" {
		h.Set("ETag", item.ETag)
	}
	for k, v := range item.Metadata {
		h.Set(metadataPrefix+k, v)
	}
	// daprd answers application/json whatever was stored.
	writeJSON(w, http.StatusOK, item.Value)
	return nil
}

// deleteState serves DELETE /v1.0/state/{store}/{key}; an If-Match header,
// even an empty one, makes the delete conditional.
func (s *Sidecar) deleteState(w http.ResponseWriter, r *http.Request) error {
	store, err := s.stateStore(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	item := state.DeleteItem{
		Key:         stateKey(r),
		Metadata:    queryMetadata(r),
		Concurrency: q.Get(concurrencyParam),
		Consistency: q.Get(consistencyParam),
	}
	if v, ok := r.Header["If-Match"]; ok {
		etag := ""
		if len(v) > 0 {
			etag = v[0]
		}
		item.ETag = &etag
	}
	if err := s.cfg.State.Delete(r.Context(), store, item); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type bulkGetRequest struct {
	Metadata    map[string]string `json:"metadata"`
	Keys        []string          `json:"keys"`
	Parallelism int               `json:"parallelism"`
}

type bulkGetItem struct {
	Key      string            `json:"key"`
	Data     json.RawMessage   `json:"data,omitempty"`
	ETag     *string           `json:"etag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// bulkGetState serves POST /v1.0/state/{store}/bulk.
func (s *Sidecar) bulkGetState(w http.ResponseWriter, r *http.Request) error {
	store, err := s.stateStore(r)
	if err != nil {
		return err
	}
	var req bulkGetRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return malformed(err, "failed deserializing HTTP body: ")
	}
	out := make([]bulkGetItem, 0, len(req.Keys))
	if len(req.Keys) > 0 {
		items, err := s.cfg.State.BulkGet(r.Context(), store, req.Keys, state.BulkGetOptions{
			Parallelism: req.Parallelism,
			Metadata:    mergeMetadata(req.Metadata, queryMetadata(r)),
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			bi := bulkGetItem{Key: it.Key, Error: it.Error}
			if it.Error == "" && it.Found {
				bi.Data = jsonData(it.Value)
				bi.Metadata = it.Metadata
				if it.ETag != "" {
					bi.ETag = &it.ETag
				}
			}
			out = append(out, bi)
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return daprerr.Wrap(daprerr.StateBulkGet, err, "failed to encode the response")
	}
	writeJSON(w, http.StatusOK, append(body, '\n'))
	return nil
}

// jsonData embeds a stored value in a JSON answer. Values saved through
// this API are JSON already; bytes stored otherwise (gRPC, another client)
// are sent as a JSON string rather than breaking the whole answer.
func jsonData(v []byte) json.RawMessage {
	if json.Valid(v) {
		return v
	}
	quoted, _ := json.Marshal(string(v))
	return quoted
}

type txRequest struct {
	Operations []txOperation     `json:"operations"`
	Metadata   map[string]string `json:"metadata"`
}

type txOperation struct {
	Operation string    `json:"operation"`
	Request   stateItem `json:"request"`
}

// transactState serves POST /v1.0/state/{store}/transaction.
func (s *Sidecar) transactState(w http.ResponseWriter, r *http.Request) error {
	store, err := s.stateStore(r)
	if err != nil {
		return err
	}
	var req txRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return malformed(err, "failed deserializing HTTP body: ")
	}
	// Even an empty transaction goes to the block: it answers a store
	// without transactions, as daprd does.
	md := queryMetadata(r)
	ops := make([]state.TxOperation, len(req.Operations))
	for i, op := range req.Operations {
		opMD := mergeMetadata(op.Request.Metadata, md)
		ops[i].Operation = op.Operation
		switch op.Operation {
		case "upsert":
			if ops[i].Save, err = op.Request.saveItem(opMD); err != nil {
				return malformed(err, "failed deserializing HTTP body: ")
			}
		case "delete":
			ops[i].Delete = op.Request.deleteItem(opMD)
		default:
			// Left for the block to reject: it owns which operations exist
			// and reports them the same way to both front ends.
			ops[i].Save.Key = op.Request.Key
			ops[i].Delete.Key = op.Request.Key
		}
	}
	if err := s.cfg.State.Transact(r.Context(), store, ops, mergeMetadata(req.Metadata, md)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type queryResponse struct {
	Results  []queryItem       `json:"results"`
	Token    string            `json:"token,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type queryItem struct {
	Key   string          `json:"key"`
	Data  json.RawMessage `json:"data"`
	ETag  string          `json:"etag,omitempty"`
	Error string          `json:"error,omitempty"`
}

// queryState serves POST /v1.0-alpha1/state/{store}/query: 200 with the
// page of results, 204 when nothing matches, as daprd answers.
func (s *Sidecar) queryState(w http.ResponseWriter, r *http.Request) error {
	store, err := s.stateStore(r)
	if err != nil {
		return err
	}
	// Stores without queries get daprd's answer from the block.
	query, err := io.ReadAll(r.Body)
	if err != nil {
		return malformed(err, "failed reading the request body: ")
	}
	resp, err := s.cfg.State.Query(r.Context(), store, query, queryMetadata(r))
	if err != nil {
		return err
	}
	if resp == nil || len(resp.Results) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	out := queryResponse{Token: resp.Token, Metadata: resp.Metadata, Results: make([]queryItem, len(resp.Results))}
	for i, it := range resp.Results {
		out.Results[i] = queryItem{Key: it.Key, Data: jsonData(it.Data), ETag: it.ETag, Error: it.Error}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return daprerr.Wrap(daprerr.StateQuery, err, "failed to encode the response")
	}
	writeJSON(w, http.StatusOK, append(body, '\n'))
	return nil
}
