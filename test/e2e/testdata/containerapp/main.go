// Command containerapp is the image of the container tests: an HTTP app on
// the fixed port 8000 that keeps state through its Dapr sidecar at
// localhost:3500, as an app written for ACA does. Its first argument says
// what else it does:
//
//	serve          serve (the default)
//	init FILE      write FILE (in a volume) and exit 0, as an init container
//	fail           exit 1 at once, as a failing init container
//	idle           wait for SIGTERM, as a sidecar container with nothing to do
//	stubborn       serve, ignoring SIGTERM: only SIGKILL ends it
//	get URL        print the status and body of a GET of URL (for cove exec)
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	mode := "serve"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "init":
		if err := os.WriteFile(os.Args[2], []byte("init ran\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("init wrote", os.Args[2])
		return
	case "fail":
		fmt.Fprintln(os.Stderr, "init failing on purpose")
		os.Exit(1)
	case "idle":
		fmt.Println("idle")
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		<-ctx.Done()
		return
	case "get":
		resp, err := http.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s", resp.StatusCode, b)
		return
	}
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
	}
	dapr := "http://localhost:" + os.Getenv("DAPR_HTTP_PORT")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getenv("CONTAINER_APP_REPLICA_NAME"))
	})
	// PUT /state/KEY stores the body under KEY; GET reads it back.
	http.HandleFunc("/state/", func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/state/")
		var resp *http.Response
		var err error
		if r.Method == http.MethodPut {
			body, _ := io.ReadAll(r.Body)
			payload := fmt.Sprintf(`[{"key":%q,"value":%q}]`, key, body)
			resp, err = http.Post(dapr+"/v1.0/state/statestore", "application/json", bytes.NewReader([]byte(payload)))
		} else {
			resp, err = http.Get(dapr + "/v1.0/state/statestore/" + key)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	// GET /file?path=P returns the file's content.
	http.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	// GET /env?name=N returns the variable.
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	fmt.Println("listening on :8000")
	if err := http.ListenAndServe(":8000", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
