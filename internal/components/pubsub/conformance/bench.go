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

// benchRound is how many messages Bench sends through one side before it
// turns to the other.
const benchRound = 1000

// Baseline is the broker's own client doing Bench's work without the
// component: it subscribes group to topic, making what the component would
// make there (so Bench's cleanup removes it), hands each message's body to
// deliver and acknowledges the message once deliver returns. The publish
// it returns sends a body to topic and waits for the broker's
// acknowledgement; several goroutines call it at once, and it may not keep
// body. What it opens ends with b.
type Baseline func(b *testing.B, topic, group string, deliver func(body []byte)) (publish func(ctx context.Context, body []byte) error)

// Bench compares publish-to-delivery through one broker with the broker's
// own client doing the same work (baseline): b.N messages of 256 bytes
// published by benchPublishers goroutines to a fresh topic, all delivered
// to one subscription that acks them, through each. The run alternates
// rounds of benchRound messages of each side, each timed from its first
// publish to its last delivery. It reports the component's msgs/s and the
// p50 and p99 of each message's publish-to-delivery time, the time a
// message takes on each side (cove-ns/msg, direct-ns/msg), and cove/direct,
// what the component costs over its client. cleanup removes what each side
// created, as for Run.
func Bench(b *testing.B, ps pubsub.PubSub, cleanup func(t testing.TB, topic string, groups []string), baseline Baseline) {
	b.Helper()
	topic, directTopic, group := "bench-"+randomHex(6), "bench-direct-"+randomHex(6), "bench"
	if cleanup != nil {
		b.Cleanup(func() { cleanup(b, topic, []string{group}) })
		b.Cleanup(func() { cleanup(b, directTopic, []string{group}) })
	}
	cove, direct := newBenchPipe(b.N), newBenchPipe(b.N)
	err := ps.Subscribe(b.Context(), pubsub.SubscribeRequest{Topic: topic, Group: group}, func(_ context.Context, m *pubsub.Message) pubsub.Result {
		if len(m.Data) < 16 {
			return pubsub.Drop
		}
		cove.deliver(m.Data)
		return pubsub.Ack
	})
	if err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	cove.publish = func(ctx context.Context, body []byte) error {
		return ps.Publish(ctx, &pubsub.PublishRequest{Topic: topic, Data: body})
	}
	direct.publish = baseline(b, directTopic, group, direct.deliver)
	b.ResetTimer()
	var tCove, tDirect time.Duration
	for from := 0; from < b.N; from += benchRound {
		to := min(from+benchRound, b.N)
		tDirect += direct.round(b, from, to)
		tCove += cove.round(b, from, to)
	}
	b.StopTimer()
	lat := cove.lat
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/tCove.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(tCove.Nanoseconds())/float64(b.N), "cove-ns/msg")
	b.ReportMetric(float64(tDirect.Nanoseconds())/float64(b.N), "direct-ns/msg")
	b.ReportMetric(float64(tCove)/float64(tDirect), "cove/direct")
}

// benchPipe is one side of Bench: how it publishes, and what it delivered.
type benchPipe struct {
	publish func(ctx context.Context, body []byte) error
	lat     []time.Duration // publish to delivery, by message
	got     atomic.Int64
	want    atomic.Int64  // got at the end of the current round
	done    chan struct{} // got reached want
}

func newBenchPipe(n int) *benchPipe {
	return &benchPipe{lat: make([]time.Duration, n), done: make(chan struct{}, 1)}
}

// deliver records a message's first delivery; a message carries its
// number and the time it was published.
func (p *benchPipe) deliver(body []byte) {
	if len(body) < 16 {
		return
	}
	i := binary.BigEndian.Uint64(body)
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(body[8:]))) //nolint:gosec // our own timestamp
	if i < uint64(len(p.lat)) && p.lat[i] == 0 {
		p.lat[i] = time.Since(sent)
		if p.got.Add(1) == p.want.Load() {
			p.done <- struct{}{}
		}
	}
}

// round publishes messages from to to with benchPublishers goroutines and
// returns the time from the first publish to the last delivery.
func (p *benchPipe) round(b *testing.B, from, to int) time.Duration {
	p.want.Store(int64(to))
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	next.Store(int64(from))
	errs := make(chan error, benchPublishers)
	for range benchPublishers {
		wg.Go(func() {
			body := make([]byte, 256)
			for {
				i := next.Add(1) - 1
				if i >= int64(to) {
					return
				}
				binary.BigEndian.PutUint64(body, uint64(i))
				binary.BigEndian.PutUint64(body[8:], uint64(time.Now().UnixNano()))
				if err := p.publish(b.Context(), body); err != nil {
					errs <- fmt.Errorf("publish %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d messages delivered within a minute", p.got.Load(), to)
	}
	return time.Since(start)
}
