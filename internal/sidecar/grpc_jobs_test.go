package sidecar_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/sidecar"
)

// TestJobsGRPC drives the stable and alpha job RPCs: schedule, get, list,
// delete by prefix and delete, and daprd's codes for a job that exists
// already and one that does not.
func TestJobsGRPC(t *testing.T) {
	sched, err := jobs.Open(t.Context(), filepath.Join(t.TempDir(), "jobs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sched.Close() })
	_, addr := serveSidecar(t, sidecar.Config{AppID: "orders", Logger: slog.New(slog.DiscardHandler), Jobs: sched.App("orders", "")})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := runtimev1pb.NewDaprClient(conn)
	ctx := t.Context()
	daily := "@daily"
	for _, name := range []string{"report-a", "report-b", "cleanup"} {
		if _, err := c.ScheduleJob(ctx, &runtimev1pb.ScheduleJobRequest{Job: &runtimev1pb.Job{Name: name, Schedule: &daily}}); err != nil {
			t.Fatal(err)
		}
	}
	//lint:ignore SA1019 the alpha RPCs are still served, as by daprd
	_, err = c.ScheduleJobAlpha1(ctx, &runtimev1pb.ScheduleJobRequest{Job: &runtimev1pb.Job{Name: "cleanup", Schedule: &daily}})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("scheduling an existing job: %v, want AlreadyExists", err)
	}
	//lint:ignore SA1019 the alpha RPCs are still served, as by daprd
	got, err := c.GetJobAlpha1(ctx, &runtimev1pb.GetJobRequest{Name: "cleanup"})
	if err != nil || got.GetJob().GetSchedule() != daily {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, err := c.DeleteJobsByPrefix(ctx, &runtimev1pb.DeleteJobsByPrefixRequest{NamePrefix: new("report-")}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListJobs(ctx, &runtimev1pb.ListJobsRequest{})
	if err != nil || len(list.GetJobs()) != 1 || list.GetJobs()[0].GetName() != "cleanup" {
		t.Fatalf("list after deleting report-*: %v %v", list, err)
	}
	if _, err := c.DeleteJob(ctx, &runtimev1pb.DeleteJobRequest{Name: "cleanup"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetJob(ctx, &runtimev1pb.GetJobRequest{Name: "cleanup"})
	if st, _ := status.FromError(err); st.Code() != codes.Internal || st.Message() != "failed to get job due to: job not found: cleanup" {
		t.Fatalf("get of a deleted job: %v", err)
	}
	//lint:ignore SA1019 the alpha RPCs are still served, as by daprd
	_, err = c.ScheduleJobAlpha1(ctx, &runtimev1pb.ScheduleJobRequest{Job: &runtimev1pb.Job{Name: "x"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a job without schedule nor due time: %v, want InvalidArgument", err)
	}
}
