// Command triage-backend is the workshop's patient triage API. It keeps
// patients in the Dapr state store when a sidecar is present (DAPR_HTTP_PORT
// is set) and in memory otherwise, so that with several replicas and no
// Dapr, patients "disappear" depending on which replica answers. With a
// sidecar it also publishes each new patient to the patient-admitted topic,
// which triage-notifier subscribes to.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Patient is one triage entry.
type Patient struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Urgency string    `json:"urgency"`
	Notes   string    `json:"notes,omitempty"`
	Created time.Time `json:"created"`
}

// store keeps the list of patients.
type store interface {
	List(ctx context.Context) ([]Patient, error)
	Add(ctx context.Context, p Patient) error
}

func main() {
	port := envOr("PORT", "8000")
	var st store = &memoryStore{}
	mode := "memory"
	publish := func(context.Context, Patient) error { return nil }
	if dp := os.Getenv("DAPR_HTTP_PORT"); dp != "" {
		st = &daprStore{base: "http://127.0.0.1:" + dp + "/v1.0/state/" + envOr("STATE_STORE", "statestore")}
		mode = "dapr"
		topic := "http://127.0.0.1:" + dp + "/v1.0/publish/" + envOr("PUBSUB_NAME", "pubsub") + "/patient-admitted"
		publish = func(ctx context.Context, p Patient) error { return publishJSON(ctx, topic, p) }
	}
	replica := envOr("CONTAINER_APP_REPLICA_NAME", "local")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "storage": mode, "replica": replica})
	})
	mux.HandleFunc("GET /api/patients", func(w http.ResponseWriter, r *http.Request) {
		ps, err := st.List(r.Context())
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, ps)
	})
	mux.HandleFunc("POST /api/patients", func(w http.ResponseWriter, r *http.Request) {
		var p Patient
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&p); err != nil || p.Name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON with at least a name"})
			return
		}
		if p.Urgency == "" {
			p.Urgency = "Medium"
		}
		p.ID = fmt.Sprintf("p-%d", time.Now().UnixNano())
		p.Created = time.Now().UTC()
		if err := st.Add(r.Context(), p); err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		// The patient is saved: a notification that cannot be sent is
		// logged, not the request's failure.
		if err := publish(r.Context(), p); err != nil {
			log.Printf("patient %s saved but not announced: %v", p.ID, err)
		}
		writeJSON(w, http.StatusCreated, p)
	})

	// HOST is unset in a container, where the app must listen on every
	// interface; cove.yaml sets it to 127.0.0.1, so that other machines
	// cannot reach the replica past cove's edge.
	addr := net.JoinHostPort(os.Getenv("HOST"), port)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("triage-backend listening on %s (storage: %s)", addr, mode)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
}

type memoryStore struct {
	mu       sync.Mutex
	patients []Patient
}

func (m *memoryStore) List(context.Context) ([]Patient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Patient{}, m.patients...), nil
}

func (m *memoryStore) Add(_ context.Context, p Patient) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.patients = append(m.patients, p)
	return nil
}

// daprStore keeps all patients under one key and uses the ETag to make
// concurrent adds from several replicas safe: a conflicting write gets 409
// and is retried on fresh data.
type daprStore struct{ base string }

const patientsKey = "patients"

func (d *daprStore) load(ctx context.Context) ([]Patient, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/"+patientsKey, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, "", nil
	case http.StatusOK:
		var ps []Patient
		if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
			return nil, "", fmt.Errorf("decode state: %w", err)
		}
		return ps, resp.Header.Get("ETag"), nil
	default:
		return nil, "", fmt.Errorf("state store answered %s", resp.Status)
	}
}

func (d *daprStore) List(ctx context.Context) ([]Patient, error) {
	ps, _, err := d.load(ctx)
	if ps == nil {
		ps = []Patient{}
	}
	return ps, err
}

var errConflict = errors.New("etag conflict")

func (d *daprStore) Add(ctx context.Context, p Patient) error {
	for range 10 {
		err := d.tryAdd(ctx, p)
		if !errors.Is(err, errConflict) {
			return err
		}
	}
	return errConflict
}

func (d *daprStore) tryAdd(ctx context.Context, p Patient) error {
	ps, etag, err := d.load(ctx)
	if err != nil {
		return err
	}
	// first-write: without an ETag the save only succeeds if the key is
	// still absent, so two replicas creating the list at once cannot both win.
	item := map[string]any{"key": patientsKey, "value": append(ps, p), "options": map[string]string{"concurrency": "first-write"}}
	if etag != "" {
		item["etag"] = etag
	}
	body, _ := json.Marshal([]any{item})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.base, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusCreated:
		return nil
	case http.StatusConflict:
		return errConflict
	default:
		return fmt.Errorf("state store answered %s", resp.Status)
	}
}

// publishJSON publishes v to a Dapr topic URL; the sidecar answers 204
// once the broker has stored the event.
func publishJSON(ctx context.Context, url string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("publish answered %s: %s", resp.Status, msg)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
