// Command echo is the upstream app of cove's benchmarks: the smallest
// useful HTTP server (standard library only), answering every request with
// a short body, so that what is measured is the proxy or sidecar in front.
package main

import (
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	body := []byte("ok\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
