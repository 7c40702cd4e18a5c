package grpcapi

import (
	"context"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// JobsAPI is what the gRPC API needs of the jobs building block; the
// signatures are those of jobs.Service.
type JobsAPI interface {
	Schedule(ctx context.Context, job *runtimev1pb.Job, overwrite bool) error
	Get(ctx context.Context, name string) (*runtimev1pb.Job, error)
	Delete(ctx context.Context, name string) error
	DeleteByPrefix(ctx context.Context, prefix string) error
	List(ctx context.Context) ([]*runtimev1pb.Job, error)
}

// noJobs is the embedded server's answer, which absent turns into daprd's
// answer without a scheduler.
var noJobs = status.Error(codes.Unimplemented, "jobs")

// ScheduleJobAlpha1 stores a job of the sidecar's app.
func (a *api) ScheduleJobAlpha1(ctx context.Context, in *runtimev1pb.ScheduleJobRequest) (*runtimev1pb.ScheduleJobResponse, error) {
	if a.jobs == nil {
		return nil, noJobs
	}
	if err := a.jobs.Schedule(ctx, in.GetJob(), in.GetOverwrite()); err != nil {
		return nil, err
	}
	return &runtimev1pb.ScheduleJobResponse{}, nil
}

// GetJobAlpha1 returns a job as it was scheduled.
func (a *api) GetJobAlpha1(ctx context.Context, in *runtimev1pb.GetJobRequest) (*runtimev1pb.GetJobResponse, error) {
	if a.jobs == nil {
		return nil, noJobs
	}
	job, err := a.jobs.Get(ctx, in.GetName())
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.GetJobResponse{Job: job}, nil
}

// DeleteJobAlpha1 removes a job; one that does not exist is no error.
func (a *api) DeleteJobAlpha1(ctx context.Context, in *runtimev1pb.DeleteJobRequest) (*runtimev1pb.DeleteJobResponse, error) {
	if a.jobs == nil {
		return nil, noJobs
	}
	if err := a.jobs.Delete(ctx, in.GetName()); err != nil {
		return nil, err
	}
	return &runtimev1pb.DeleteJobResponse{}, nil
}

// DeleteJobsByPrefixAlpha1 removes the app's jobs whose names start with
// the prefix.
func (a *api) DeleteJobsByPrefixAlpha1(ctx context.Context, in *runtimev1pb.DeleteJobsByPrefixRequestAlpha1) (*runtimev1pb.DeleteJobsByPrefixResponseAlpha1, error) {
	if a.jobs == nil {
		return nil, noJobs
	}
	if err := a.jobs.DeleteByPrefix(ctx, in.GetNamePrefix()); err != nil {
		return nil, err
	}
	return &runtimev1pb.DeleteJobsByPrefixResponseAlpha1{}, nil
}

// ListJobsAlpha1 lists the app's jobs.
func (a *api) ListJobsAlpha1(ctx context.Context, _ *runtimev1pb.ListJobsRequestAlpha1) (*runtimev1pb.ListJobsResponseAlpha1, error) {
	if a.jobs == nil {
		return nil, noJobs
	}
	list, err := a.jobs.List(ctx)
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.ListJobsResponseAlpha1{Jobs: list}, nil
}

// The stable RPCs daprd 1.18 added beside the alpha ones take the same
// requests and answer the same way; SDKs try them first.

// ScheduleJob is ScheduleJobAlpha1.
func (a *api) ScheduleJob(ctx context.Context, in *runtimev1pb.ScheduleJobRequest) (*runtimev1pb.ScheduleJobResponse, error) {
	return a.ScheduleJobAlpha1(ctx, in)
}

// GetJob is GetJobAlpha1.
func (a *api) GetJob(ctx context.Context, in *runtimev1pb.GetJobRequest) (*runtimev1pb.GetJobResponse, error) {
	return a.GetJobAlpha1(ctx, in)
}

// DeleteJob is DeleteJobAlpha1.
func (a *api) DeleteJob(ctx context.Context, in *runtimev1pb.DeleteJobRequest) (*runtimev1pb.DeleteJobResponse, error) {
	return a.DeleteJobAlpha1(ctx, in)
}

// DeleteJobsByPrefix is DeleteJobsByPrefixAlpha1.
func (a *api) DeleteJobsByPrefix(ctx context.Context, in *runtimev1pb.DeleteJobsByPrefixRequest) (*runtimev1pb.DeleteJobsByPrefixResponse, error) {
	if _, err := a.DeleteJobsByPrefixAlpha1(ctx, &runtimev1pb.DeleteJobsByPrefixRequestAlpha1{NamePrefix: in.NamePrefix}); err != nil {
		return nil, err
	}
	return &runtimev1pb.DeleteJobsByPrefixResponse{}, nil
}

// ListJobs is ListJobsAlpha1.
func (a *api) ListJobs(ctx context.Context, _ *runtimev1pb.ListJobsRequest) (*runtimev1pb.ListJobsResponse, error) {
	res, err := a.ListJobsAlpha1(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &runtimev1pb.ListJobsResponse{Jobs: res.GetJobs()}, nil
}
