package sidecar

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/blocks/jobs"
)

// jobsEnv is a sidecar of app "orders" with a scheduler of its own, and
// the app's job deliveries ("name body" each).
func jobsEnv(t *testing.T) (*testEnv, chan string) {
	t.Helper()
	got := make(chan string, 10)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name, ok := strings.CutPrefix(r.URL.Path, "/job/")
		if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/json" {
			http.NotFound(w, r)
			return
		}
		got <- name + " " + string(body)
	}))
	t.Cleanup(app.Close)
	sched, err := jobs.Open(t.Context(), filepath.Join(t.TempDir(), "jobs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sched.Close() })
	env := newEnv(t, Config{AppID: "orders", AppAddr: app.Listener.Addr().String(), Jobs: sched.App("orders", "")})
	return env, got
}

func TestJobsHTTP(t *testing.T) {
	env, got := jobsEnv(t)
	base := env.url + "/v1.0-alpha1/jobs/"

	resp, body := do(t, http.MethodPost, base+"ping", `{"dueTime": "0s", "data": {"k": "v"}}`, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("schedule: %d %s", resp.StatusCode, body)
	}
	select {
	case d := <-got:
		if d != `ping {"k":"v"}` {
			t.Fatalf("the app got %q", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not reach the app in 30s")
	}

	resp, body = do(t, http.MethodPost, base+"nightly", `{"schedule": "@daily", "repeats": 2, "data": "hello",
		"failure_policy": {"constant": {"interval": "3s", "max_retries": 5}}}`, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("schedule: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, http.MethodGet, env.url+"/v1.0/jobs/nightly", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
	var job map[string]any
	if err := json.Unmarshal(body, &job); err != nil {
		t.Fatal(err)
	}
	want := `{"data":{"@type":"type.googleapis.com/google.protobuf.Value","value":"hello"},` +
		`"failurePolicy":{"constant":{"interval":"3s","maxRetries":5}},"name":"nightly","repeats":2,"schedule":"@daily"}`
	if b, _ := json.Marshal(job); string(b) != want {
		t.Fatalf("get answered %s, want %s", b, want)
	}
	resp, body = do(t, http.MethodPost, base+"nightly", `{"schedule": "@weekly"}`, nil)
	wantDaprError(t, resp, body, http.StatusConflict, "DAPR_SCHEDULER_SCHEDULE_JOB")
	resp, body = do(t, http.MethodPost, base+"nightly", `{"schedule": "@weekly", "overwrite": true}`, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("overwrite: %d %s", resp.StatusCode, body)
	}
	for range 2 {
		if resp, body = do(t, http.MethodDelete, base+"nightly", "", nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d %s", resp.StatusCode, body)
		}
	}
	resp, body = do(t, http.MethodGet, base+"nightly", "", nil)
	if msg := wantDaprError(t, resp, body, http.StatusInternalServerError, "DAPR_SCHEDULER_GET_JOB"); !strings.Contains(msg, "failed to get job") {
		t.Errorf("message %q", msg)
	}
}

func TestJobsHTTPErrors(t *testing.T) {
	env, _ := jobsEnv(t)
	for _, c := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"no schedule", "test", `{}`, 400, "DAPR_SCHEDULER_SCHEDULE_EMPTY", "Schedule is empty"},
		{"blank name", "%20", `{"schedule": "@daily"}`, 400, "DAPR_SCHEDULER_JOB_NAME_EMPTY", "Name is empty"},
		{"name in the body", "test", `{"name": "test1", "schedule": "@daily"}`, 400, "DAPR_SCHEDULER_JOB_NAME", "Set the job name in the url only"},
		{"bad schedule", "test", `{"schedule": "every day"}`, 500, "DAPR_SCHEDULER_SCHEDULE_JOB", "failed to schedule job due to: "},
		{"bad due time", "test", `{"dueTime": "soon"}`, 500, "DAPR_SCHEDULER_SCHEDULE_JOB", `dueTime "soon"`},
		{"not JSON", "test", `{`, 400, "ERR_MALFORMED_REQUEST", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, env.url+"/v1.0-alpha1/jobs/"+c.path, c.body, nil)
			if msg := wantDaprError(t, resp, body, c.status, c.code); !strings.Contains(msg, c.message) {
				t.Errorf("message %q, want one with %q", msg, c.message)
			}
		})
	}
}
