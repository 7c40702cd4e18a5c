package sidecar

import (
	"net/http"
	"strings"

	internalsv1pb "github.com/dapr/dapr/pkg/proto/internals/v1"
	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/jobs"
	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/sidecar/grpcapi"
)

// JobsAPI is what the sidecar needs of the jobs building block; the
// signatures are those of jobs.Service.
type JobsAPI interface {
	grpcapi.JobsAPI
	// Attach makes this sidecar's app a target of the app's jobs.
	Attach(t jobs.Target) (detach func())
}

// jobRoutes serves daprd's jobs API, under v1.0 and v1.0-alpha1 alike.
func (s *Sidecar) jobRoutes(mux *http.ServeMux) {
	for _, v := range []string{"/v1.0", "/v1.0-alpha1"} {
		mux.HandleFunc("POST "+v+"/jobs/{name}", s.handle(s.scheduleJob))
		mux.HandleFunc("GET "+v+"/jobs/{name}", s.handle(s.getJob))
		mux.HandleFunc("DELETE "+v+"/jobs/{name}", s.handle(s.deleteJob))
	}
}

// scheduleJob answers POST /v1.0-alpha1/jobs/{name} with 204. The body is
// daprd's: schedule, repeats, dueTime, ttl, data (any JSON), overwrite,
// failurePolicy; the name belongs in the URL only.
func (s *Sidecar) scheduleJob(w http.ResponseWriter, r *http.Request) error {
	var in internalsv1pb.JobHTTPRequest
	if err := readProtoJSON(r, &in); err != nil {
		return err
	}
	if in.GetName() != "" {
		return daprerr.New(jobs.ErrNameInURL, "Set the job name in the url only")
	}
	job := &runtimev1pb.Job{
		Name: strings.TrimSpace(r.PathValue("name")), Schedule: in.Schedule, Repeats: in.Repeats, DueTime: in.DueTime,
		Ttl: in.Ttl, FailurePolicy: in.GetFailurePolicy(),
	}
	if in.GetData() != nil {
		data, err := anypb.New(in.GetData())
		if err != nil {
			return daprerr.Wrap(daprerr.SchedulerScheduleJob, err, "error creating storable job data from job")
		}
		job.Data = data
	}
	if err := s.cfg.Jobs.Schedule(r.Context(), job, in.GetOverwrite()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getJob answers GET /v1.0-alpha1/jobs/{name} with the job as daprd
// writes it (protojson, data as an Any).
func (s *Sidecar) getJob(w http.ResponseWriter, r *http.Request) error {
	job, err := s.cfg.Jobs.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	body, err := protojson.Marshal(job)
	if err != nil {
		return daprerr.Wrap(daprerr.Internal, err, "failed to encode response as JSON")
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// deleteJob answers DELETE /v1.0-alpha1/jobs/{name} with 204, a job that
// does not exist included.
func (s *Sidecar) deleteJob(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Jobs.Delete(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
