package sidecar

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cove-env/cove/internal/blocks/pubsub"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/tracecontext"
)

// pubsubRoutes adds the publish API; without a pub/sub block the absent
// routes answer instead.
func (s *Sidecar) pubsubRoutes(mux *http.ServeMux) {
	for _, verb := range []string{http.MethodPost, http.MethodPut} {
		mux.HandleFunc(verb+" /v1.0/publish/{pubsub}/{topic...}", s.handle(s.publish))
		mux.HandleFunc(verb+" /v1.0/publish/bulk/{pubsub}/{topic...}", s.handle(s.bulkPublish))
		mux.HandleFunc(verb+" /v1.0-alpha1/publish/bulk/{pubsub}/{topic...}", s.handle(s.bulkPublish))
	}
}

// publish is POST /v1.0/publish/{pubsub}/{topic}: the body, with its
// content type, wrapped in a CloudEvent. 204 once the broker stored it.
func (s *Sidecar) publish(w http.ResponseWriter, r *http.Request) error {
	name, topic := r.PathValue("pubsub"), r.PathValue("topic")
	if err := s.cfg.Pubsub.Check(name, topic); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return daprerr.Wrap(daprerr.PubsubPublishMessage, err, "error when publishing to topic %s in pubsub %s", topic, name)
	}
	err = s.cfg.Pubsub.Publish(r.Context(), pubsub.PublishRequest{
		Pubsub: name, Topic: topic, Data: body, ContentType: r.Header.Get("Content-Type"),
		Metadata:    queryMetadata(r),
		TraceParent: r.Header.Get(tracecontext.HeaderTraceParent), TraceState: r.Header.Get(tracecontext.HeaderTraceState),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// bulkEntry is one entry of a bulk publish body.
type bulkEntry struct {
	EntryID     string            `json:"entryId"`
	Event       any               `json:"event"`
	ContentType string            `json:"contentType"`
	Metadata    map[string]string `json:"metadata"`
}

// bulkPublishAnswer is what a bulk publish that failed answers.
type bulkPublishAnswer struct {
	FailedEntries []bulkFailedEntry `json:"failedEntries"`
	ErrorCode     string            `json:"errorCode,omitempty"`
}

type bulkFailedEntry struct {
	EntryID string `json:"entryId"`
	Error   string `json:"error,omitempty"`
}

// bulkPublish is POST /v1.0-alpha1/publish/bulk/{pubsub}/{topic}: a JSON
// list of entries, each its own event. 204 when all were stored; when any
// failed, 500 with the failed entries, as daprd answers.
func (s *Sidecar) bulkPublish(w http.ResponseWriter, r *http.Request) error {
	name, topic := r.PathValue("pubsub"), r.PathValue("topic")
	if err := s.cfg.Pubsub.Check(name, topic); err != nil {
		return err
	}
	var in []bulkEntry
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return daprerr.New(daprerr.PubsubEventsSer, "error when unmarshaling the request for topic %s pubsub %s: %s", topic, name, err)
	}
	entries := make([]pubsub.BulkEntry, len(in))
	for i, e := range in {
		data, err := eventBytes(e.Event, e.ContentType)
		if err != nil {
			return daprerr.New(daprerr.PubsubEventsSer, "error when marshalling cloud event envelope for topic %s pubsub %s: %s", topic, name, err)
		}
		entries[i] = pubsub.BulkEntry{EntryID: e.EntryID, Event: data, ContentType: e.ContentType, Metadata: e.Metadata}
	}
	failed, err := s.cfg.Pubsub.BulkPublish(r.Context(), pubsub.BulkRequest{
		Pubsub: name, Topic: topic, Entries: entries, Metadata: queryMetadata(r),
		TraceParent: r.Header.Get(tracecontext.HeaderTraceParent), TraceState: r.Header.Get(tracecontext.HeaderTraceState),
	})
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	e := daprerr.From(err)
	if e.Kind != daprerr.PubsubPublishMessage {
		return err
	}
	ans := bulkPublishAnswer{FailedEntries: make([]bulkFailedEntry, 0, len(failed)), ErrorCode: e.Kind.Code}
	for _, f := range failed {
		ans.FailedEntries = append(ans.FailedEntries, bulkFailedEntry{EntryID: f.EntryID, Error: f.Error})
	}
	body, mErr := json.Marshal(ans)
	if mErr != nil {
		return err
	}
	s.log.Warn("bulk publish failed", "pubsub", name, "topic", topic, "error", e.Message)
	writeJSON(w, e.Status(), body)
	return nil
}

// errContentTypeMismatch is daprd's refusal of an event its content type
// does not describe.
var errContentTypeMismatch = errors.New("error: mismatch between contentType and event")

// eventBytes turns a bulk entry's event into bytes by its content type, as
// daprd does: binary from base64, text as the string, JSON and CloudEvents
// encoded; any other content type is refused.
func eventBytes(event any, contentType string) ([]byte, error) {
	ct := strings.ToLower(contentType)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	switch {
	case ct == "application/octet-stream":
		str, ok := event.(string)
		if !ok {
			return nil, errContentTypeMismatch
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return nil, fmt.Errorf("error: unable to decode base64 application/octect-stream data: %w", err)
		}
		return b, nil
	case strings.HasPrefix(ct, "text/") || ct == "application/xml":
		str, ok := event.(string)
		if !ok {
			return nil, errContentTypeMismatch
		}
		return []byte(str), nil
	case ct == "application/json" || ct == pubsub.ContentTypeCloudEvent:
		b, err := json.Marshal(event)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", errContentTypeMismatch, err)
		}
		return b, nil
	}
	return nil, errContentTypeMismatch
}
