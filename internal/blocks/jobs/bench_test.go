package jobs_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cove-env/cove/internal/blocks/jobs"
)

// chanTarget signals each delivery on a channel.
type chanTarget chan struct{}

func (c chanTarget) DeliverJob(context.Context, string, *anypb.Any) error {
	c <- struct{}{}
	return nil
}

// BenchmarkScheduleAndDeliver compares one-shot jobs due at once, scheduled
// and delivered to a target in process (what a host's scheduler sustains,
// its store's schedule, claim and delete included), with the bare storage
// work a job needs: the same row inserted and deleted through database/sql,
// on the same driver, schema and pragmas, in a file of its own in the same
// directory. The run alternates rounds of 100 jobs of each; a scheduler
// round is timed from the first schedule to the last delivery.
// scheduler/store is what the scheduler adds to its store's writes.
func BenchmarkScheduleAndDeliver(b *testing.B) {
	const round = 100
	dir := b.TempDir()
	s := open(b, filepath.Join(dir, "jobs.db"))
	app := s.App("bench", "")
	delivered := make(chanTarget, round)
	defer app.Attach(delivered)()

	db, err := sql.Open("sqlite", jobs.DSN(filepath.Join(dir, "bare.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(jobs.Schema); err != nil {
		b.Fatal(err)
	}
	bare := func(job *runtimev1pb.Job) error {
		data, err := proto.Marshal(job)
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if _, err := db.Exec(`INSERT INTO jobs (namespace, app_id, name, job, gen, begin_at, has_due, expires_at,
			tick_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			"", "bench", job.Name, data, "0123456789abcdef", now, true, 0, now, now); err != nil {
			return err
		}
		_, err = db.Exec(`DELETE FROM jobs WHERE namespace = ? AND app_id = ? AND name = ?`, "", "bench", job.Name)
		return err
	}

	var tStore, tScheduler time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(round, b.N-done)
		start := time.Now()
		for i := range n {
			if err := bare(&runtimev1pb.Job{Name: "j" + strconv.Itoa(done+i), DueTime: ptr("0s")}); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for i := range n {
			if err := app.Schedule(context.Background(), &runtimev1pb.Job{Name: "j" + strconv.Itoa(done+i), DueTime: ptr("0s")}, false); err != nil {
				b.Fatal(err)
			}
		}
		for range n {
			<-delivered
		}
		tStore += mid.Sub(start)
		tScheduler += time.Since(mid)
		done += n
	}
	b.ReportMetric(float64(tStore.Nanoseconds())/float64(b.N), "store-ns/job")
	b.ReportMetric(float64(tScheduler.Nanoseconds())/float64(b.N), "scheduler-ns/job")
	b.ReportMetric(float64(tScheduler)/float64(tStore), "scheduler/store")
}
