package conformance

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/pubsub"
)

// benchPublishers is how many goroutines publish at once in Bench, as the
// replicas and requests of a busy app would.
const benchPublishers = 8

// Bench measures publish-to-delivery through one broker: b.N messages of
// 256 bytes published by benchPublishers goroutines to a fresh topic, all
// delivered to one subscription that acks them. It reports msgs/s (from
// the first publish to the last delivery) and the p50 and p99 of each
// message's publish-to-delivery time. cleanup removes what it created, as
// for Run.
func Bench(b *testing.B, ps pubsub.PubSub, cleanup func(t testing.TB, topic string, groups []string)) {
	b.Helper()
	topic, group := "bench-"+randomHex(6), "bench"
	if cleanup != nil {
		b.Cleanup(func() { cleanup(b, topic, []string{group}) })
	}
	lat := make([]time.Duration, b.N)
	var got atomic.Int64
	done := make(chan struct{})
	err := ps.Subscribe(b.Context(), pubsub.SubscribeRequest{Topic: topic, Group: group}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		if len(m.Data) < 16 {
			return pubsub.Drop
		}
		i := binary.BigEndian.Uint64(m.Data)
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data[8:]))) //nolint:gosec // our own timestamp
		if i < uint64(len(lat)) && lat[i] == 0 {
			lat[i] = time.Since(sent)
			if got.Add(1) == int64(b.N) {
				close(done)
			}
		}
		return pubsub.Ack
	})
	if err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, benchPublishers)
	for range benchPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 256)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				binary.BigEndian.PutUint64(body, uint64(i))
				binary.BigEndian.PutUint64(body[8:], uint64(time.Now().UnixNano()))
				if err := ps.Publish(b.Context(), &pubsub.PublishRequest{Topic: topic, Data: body}); err != nil {
					errs <- fmt.Errorf("publish %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d messages delivered within a minute", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
