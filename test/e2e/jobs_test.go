package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprgrpc "github.com/dapr/go-sdk/service/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// runJobsApp is an app that prints every job it is sent, with its
// replica: over HTTP (POST /job/{name}, a plain handler, as the Go SDK's
// service/http has no job handlers) or with the Go SDK's service/grpc and
// AddJobEventHandler for the names in JOB_NAMES.
func runJobsApp(mode string) int {
	addr := "127.0.0.1:" + os.Getenv("PORT")
	replica := os.Getenv("CONTAINER_APP_REPLICA_NAME")
	if mode == "jobs-grpc" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		svc := daprgrpc.NewServiceWithListener(l)
		for _, name := range strings.Split(os.Getenv("JOB_NAMES"), ",") {
			if err := svc.AddJobEventHandler(name, func(_ context.Context, e *common.JobEvent) error {
				fmt.Printf("%s on %s got job %s: %q\n", mode, replica, e.JobType, e.Data)
				return nil
			}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		fmt.Fprintln(os.Stderr, svc.Start())
		return 1
	}
	http.HandleFunc("POST /job/{name}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("%s on %s got job %s: %s\n", mode, replica, r.PathValue("name"), body)
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
	return 1
}

// jobsEnv writes an environment of an HTTP app with two replicas and a
// gRPC app, both running runJobsApp.
func jobsEnv(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("name: jobs\napps:\n")
	for _, p := range []string{"http", "grpc"} {
		name := "jobs-" + p
		fmt.Fprintf(&b, "  - file: %s.yaml\n    command: [%q]\n    env: {COVE_E2E_APP: %s, JOB_NAMES: \"grpc-once,grpc-data\"}\n", name, exe, name)
		replicas := map[string]int{"http": 2, "grpc": 1}[p]
		writeFile(t, dir, name+".yaml", daprAppYAML(name, p, replicas))
	}
	writeFile(t, dir, "cove.yaml", b.String())
	return filepath.Join(dir, "cove.yaml")
}

// sidecarOf is the Dapr ports of an app's first replica.
func (e *env) sidecarOf(app string) (httpPort, grpcPort int) {
	e.t.Helper()
	for _, a := range e.status().Apps {
		if a.Name == app && len(a.Replicas) > 0 {
			return a.Replicas[0].DaprHTTPPort, a.Replicas[0].DaprGRPCPort
		}
	}
	e.t.Fatalf("no replica of %s", app)
	return 0, 0
}

// countLines counts cove's output lines containing s.
func (e *env) countLines(s string) int {
	return strings.Count(e.out.String(), s)
}

// waitGone polls GetJob until the job is gone, as a job is once it
// fires no more.
func waitGone(t *testing.T, c dapr.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := c.GetJob(t.Context(), name)
		if err != nil && strings.Contains(err.Error(), "job not found") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still there after a minute (%v)", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSDKJobs: under cove up, the Go SDK schedules, reads and deletes jobs
// through a sidecar's gRPC API and curl-style calls through its HTTP API;
// an HTTP app with two replicas and a Go SDK gRPC app (AddJobEventHandler)
// get their jobs' data as daprd sends it, each occurrence once, on one
// replica.
func TestSDKJobs(t *testing.T) {
	e := up(t, jobsEnv(t))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	httpPort, grpcPort := e.sidecarOf("jobs-http")
	c, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", grpcPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A job scheduled for the future fires once.
	hello, _ := anypb.New(structpb.NewStringValue("hello"))
	if err := c.ScheduleJob(ctx, dapr.NewJob("once", dapr.WithJobDueTime("2s"), dapr.WithJobData(hello))); err != nil {
		t.Fatal(err)
	}
	e.waitFor(`got job once: "hello"`, time.Minute)
	waitGone(t, c, "once")
	if n := e.countLines("got job once:"); n != 1 {
		t.Fatalf("%d deliveries of once, want 1", n)
	}

	// A recurring job: three occurrences, each on one of the two replicas.
	if err := c.ScheduleJob(ctx, dapr.NewJob("thrice", dapr.WithJobSchedule("@every 1s"), dapr.WithJobRepeats(3))); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "thrice")
	if n := e.countLines("got job thrice:"); n != 3 {
		t.Fatalf("%d deliveries of thrice, want 3:\n%s", n, e.out.String())
	}

	// Get and delete.
	if err := c.ScheduleJob(ctx, dapr.NewJob("nightly", dapr.WithJobSchedule("0 30 2 * * *"), dapr.WithJobRepeats(5),
		dapr.WithJobDropFailurePolicy())); err != nil {
		t.Fatal(err)
	}
	job, err := c.GetJob(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "nightly" || *job.Schedule != "0 30 2 * * *" || *job.Repeats != 5 {
		t.Fatalf("got %+v", job)
	}
	if _, ok := job.FailurePolicy.(*dapr.JobFailurePolicyDrop); !ok {
		t.Fatalf("failure policy %T, want drop", job.FailurePolicy)
	}
	if err := c.ScheduleJob(ctx, dapr.NewJob("nightly", dapr.WithJobSchedule("@daily"))); err == nil ||
		!strings.Contains(err.Error(), "AlreadyExists") {
		t.Fatalf("scheduling an existing job without overwrite: %v, want AlreadyExists", err)
	}
	if err := c.DeleteJob(ctx, "nightly"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, c, "nightly")

	// Over HTTP, as curl would.
	base := fmt.Sprintf("http://127.0.0.1:%d/v1.0-alpha1/jobs/", httpPort)
	resp, err := http.Post(base+"curl-job", "application/json", strings.NewReader(`{"dueTime": "1s", "data": {"order": 42}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST jobs/curl-job: %d", resp.StatusCode)
	}
	e.waitFor(`got job curl-job: {"order":42}`, time.Minute)
	resp, err = http.Post(base+"bad", "application/json", strings.NewReader(`{"schedule": "every day"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"errorCode":"DAPR_SCHEDULER_SCHEDULE_JOB"`) {
		t.Fatalf("a bad schedule: %d %s", resp.StatusCode, body)
	}

	// The gRPC app, through its own sidecar.
	_, grpcPort = e.sidecarOf("jobs-grpc")
	g, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", grpcPort))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.ScheduleJob(ctx, dapr.NewJob("grpc-once", dapr.WithJobDueTime("1s"),
		dapr.WithJobData(&anypb.Any{TypeUrl: "type.googleapis.com/example.Text", Value: []byte("ping")}))); err != nil {
		t.Fatal(err)
	}
	e.waitFor(`jobs-grpc on `, time.Minute)
	e.waitFor(`got job grpc-once: "ping"`, time.Minute)
	waitGone(t, g, "grpc-once")
	// Jobs belong to their app: the HTTP app's sidecar does not see it.
	if _, err := c.GetJob(ctx, "grpc-once"); err == nil {
		t.Fatal("another app's sidecar read the job")
	}
	e.stop()
}

// TestJobSurvivesRestart: a job scheduled for after cove is stopped fires
// once when it starts again.
func TestJobSurvivesRestart(t *testing.T) {
	file := jobsEnv(t)
	e := up(t, file)
	_, grpcPort := e.sidecarOf("jobs-http")
	c, err := dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", grpcPort))
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(8 * time.Second).UTC()
	data, _ := anypb.New(structpb.NewStringValue("after the restart"))
	err = c.ScheduleJob(t.Context(), dapr.NewJob("later", dapr.WithJobDueTime(due.Format(time.RFC3339)), dapr.WithJobData(data)))
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.stop()
	if n := e.countLines("got job later"); n != 0 {
		t.Fatalf("the job fired before the stop; the test needs cove to stop within 8s:\n%s", e.out.String())
	}
	// The job falls due while cove is down.
	for time.Now().Before(due.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}

	e = up(t, file)
	e.waitFor(`got job later: "after the restart"`, time.Minute)
	_, grpcPort = e.sidecarOf("jobs-http")
	c, err = dapr.NewClientWithAddressContext(t.Context(), fmt.Sprintf("127.0.0.1:%d", grpcPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitGone(t, c, "later")
	if n := e.countLines("got job later"); n != 1 {
		t.Fatalf("%d deliveries after the restart, want 1:\n%s", n, e.out.String())
	}
	e.stop()
}
