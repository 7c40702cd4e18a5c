package jobs_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/protobuf/types/known/anypb"
)

type countTarget struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countTarget) DeliverJob(context.Context, string, *anypb.Any) error {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
	return nil
}

// BenchmarkScheduleAndDeliver schedules b.N one-shot jobs due at once and
// waits for every delivery: what a host's scheduler sustains, stores
// (schedule, claim, delete) included.
func BenchmarkScheduleAndDeliver(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "jobs.db"))
	app := s.App("bench", "")
	t := &countTarget{want: int64(b.N), done: make(chan struct{})}
	defer app.Attach(t)()
	b.ResetTimer()
	for i := range b.N {
		if err := app.Schedule(context.Background(), &runtimev1pb.Job{Name: "j" + strconv.Itoa(i), DueTime: ptr("0s")}, false); err != nil {
			b.Fatal(err)
		}
	}
	<-t.done
}
