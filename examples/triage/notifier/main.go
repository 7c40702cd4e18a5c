// Command triage-notifier tells the ward about new patients. It subscribes,
// through its Dapr sidecar, to the patient-admitted topic that
// triage-backend publishes to, and keeps the latest notifications for
// GET /api/notifications. It uses nothing but the standard library: the
// subscription is Dapr's GET /dapr/subscribe, the events are CloudEvents
// POSTed to the route it names.
package main

import (
	"encoding/json"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Notification is one patient the ward was told about.
type Notification struct {
	PatientID string    `json:"patientId"`
	Name      string    `json:"name"`
	Urgency   string    `json:"urgency"`
	EventID   string    `json:"eventId"`
	Received  time.Time `json:"received"`
}

// keep is how many notifications the app remembers.
const keep = 100

func main() {
	pubsub := envOr("PUBSUB_NAME", "pubsub")
	topic := envOr("TOPIC", "patient-admitted")
	var (
		mu   sync.Mutex
		seen []Notification
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []map[string]string{{"pubsubname": pubsub, "topic": topic, "route": "/events/patient-admitted"}})
	})
	mux.HandleFunc("POST /events/patient-admitted", func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				ID      string `json:"id"`
				Name    string `json:"name"`
				Urgency string `json:"urgency"`
			} `json:"data"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ev); err != nil {
			// Not an event this app can read: drop it rather than have it
			// delivered again and again.
			writeJSON(w, http.StatusOK, map[string]string{"status": "DROP"})
			return
		}
		n := Notification{PatientID: ev.Data.ID, Name: ev.Data.Name, Urgency: ev.Data.Urgency, EventID: ev.ID, Received: time.Now().UTC()}
		log.Printf("notify ward: %s (%s), urgency %s", n.Name, n.PatientID, n.Urgency)
		mu.Lock()
		seen = append(seen, n)
		if len(seen) > keep {
			seen = seen[len(seen)-keep:]
		}
		mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"status": "SUCCESS"})
	})
	mux.HandleFunc("GET /api/notifications", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		out := append([]Notification{}, seen...)
		mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
	})

	addr := net.JoinHostPort(os.Getenv("HOST"), envOr("PORT", "8000"))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("triage-notifier listening on %s, subscribed to %s/%s", addr, pubsub, topic)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
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
