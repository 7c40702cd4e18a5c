// Command triage-frontend serves the triage page and forwards its API calls
// to triage-backend through the Dapr sidecar (service invocation by app id),
// or, without a sidecar, to http://triage-backend through the environment's
// internal routing.
package main

import (
	_ "embed"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

//go:embed index.html
var page []byte

func main() {
	port := envOr("PORT", "80")
	backend := envOr("BACKEND_URL", "http://triage-backend")
	if dp := os.Getenv("DAPR_HTTP_PORT"); dp != "" {
		backend = "http://127.0.0.1:" + dp + "/v1.0/invoke/" + envOr("BACKEND_APP_ID", "triage-backend") + "/method"
	}
	client := &http.Client{Timeout: 30 * time.Second}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	// /api/... is relayed to the backend unchanged.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "backend unreachable: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})

	// HOST is unset in a container, where the app must listen on every
	// interface; cove.yaml sets it to 127.0.0.1, so that other machines
	// cannot reach the replica past cove's edge.
	addr := net.JoinHostPort(os.Getenv("HOST"), port)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("triage-frontend listening on %s, backend %s", addr, backend)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
