// Command echo is the upstream app of cove's benchmarks: the smallest
// useful HTTP server (standard library only), answering every request with
// a short body, so that what is measured is the proxy or sidecar in front.
package main

import (
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	body := []byte("ok\n")
	// With ACTOR_TYPES (comma-separated), it hosts those actor types: its
	// /dapr/config names them, and every actor call answers like any other
	// request.
	config := []byte(`{"entities":[]}`)
	if t := os.Getenv("ACTOR_TYPES"); t != "" {
		config = []byte(`{"entities":["` + strings.ReplaceAll(t, ",", `","`) + `"]}`)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dapr/config" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(config)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	// HOST is 0.0.0.0 in a container, where a published port reaches
	// the container's own interface, not its loopback.
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	srv := &http.Server{Addr: net.JoinHostPort(host, port), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	log.Fatal(srv.ListenAndServe())
}
