package standalone_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/standalone"
)

// TestJobsSharedFile runs two sidecars of one app sharing a jobs file, as
// two daprd of an app share their scheduler: jobs scheduled through one
// are each delivered once, to one of the two apps.
func TestJobsSharedFile(t *testing.T) {
	w := newWorld(t)
	jobsFile := filepath.Join(w.dir, "jobs.db")
	var (
		mu  sync.Mutex
		got = map[string]int{}
	)
	app := func() int {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if name, ok := strings.CutPrefix(r.URL.Path, "/job/"); ok && r.Method == http.MethodPost {
				mu.Lock()
				got[name]++
				mu.Unlock()
			}
		}))
		t.Cleanup(srv.Close)
		_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
		n, _ := strconv.Atoi(port)
		return n
	}
	useJobs := func(o *standalone.Options) { o.JobsFile = jobsFile }
	a := w.start(t, "orders", app(), useJobs)
	w.start(t, "orders", app(), useJobs)

	const n = 10
	for i := range n {
		resp, err := http.Post(fmt.Sprintf("http://%s/v1.0-alpha1/jobs/job-%d", a.HTTPAddr(), i), "application/json",
			strings.NewReader(`{"dueTime": "0s"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("schedule job-%d: %d", i, resp.StatusCode)
		}
	}
	// Delivered jobs are deleted: wait until none is left.
	deadline := time.Now().Add(time.Minute)
	for i := 0; i < n; {
		resp, err := http.Get(fmt.Sprintf("http://%s/v1.0-alpha1/jobs/job-%d", a.HTTPAddr(), i))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusInternalServerError {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("job-%d still there after a minute", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if c := got[fmt.Sprintf("job-%d", i)]; c != 1 {
			t.Errorf("job-%d delivered %d times, want once (all: %v)", i, c, got)
		}
	}
}
