package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// readBatcher coalesces concurrent reads into pipelines. Under load many
// sidecar requests read at once; sent one by one, each costs a write and a
// read system call here and in Redis. A few workers each take whatever reads
// are waiting and send them as one pipeline, so the cost is paid per batch.
// With a single request in flight a batch is that request alone: nothing
// waits for company.
type readBatcher struct {
	client  goredis.UniversalClient
	reqs    chan *readReq
	timeout time.Duration
	done    chan struct{}
}

type readReq struct {
	key  string
	vals []any
	err  error
	done chan struct{}
}

const (
	// batchWorkers bounds the pipelines in flight; more workers mean
	// smaller batches, fewer mean waiting behind a slow round trip.
	batchWorkers = 4
	maxBatch     = 128
)

func newReadBatcher(client goredis.UniversalClient, timeout time.Duration) *readBatcher {
	b := &readBatcher{client: client, reqs: make(chan *readReq, maxBatch), timeout: timeout, done: make(chan struct{})}
	for range batchWorkers {
		go b.work()
	}
	return b
}

// hmget reads the data and version fields of key, as HMGET does.
func (b *readBatcher) hmget(ctx context.Context, key string) ([]any, error) {
	r := &readReq{key: key, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.done:
		return nil, goredis.ErrClosed
	}
	select {
	case <-r.done:
		return r.vals, r.err
	case <-ctx.Done():
		return nil, ctx.Err() // the worker finishes the read and drops it
	}
}

func (b *readBatcher) work() {
	batch := make([]*readReq, 0, maxBatch)
	cmds := make([]*goredis.SliceCmd, 0, maxBatch)
	for {
		var first *readReq
		select {
		case first = <-b.reqs:
		case <-b.done:
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		// One deadline for the batch: the callers' contexts cannot be
		// merged, and a caller that gives up stops waiting on its own.
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if len(batch) == 1 {
			first.vals, first.err = b.client.HMGet(ctx, first.key, "data", "version").Result()
			close(first.done)
			cancel()
			continue
		}
		pipe := b.client.Pipeline()
		cmds = cmds[:0]
		for _, r := range batch {
			cmds = append(cmds, pipe.HMGet(ctx, r.key, "data", "version"))
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
		cancel()
		for i, r := range batch {
			r.vals, r.err = cmds[i].Result()
			close(r.done)
		}
	}
}

// close stops the workers; reads already taken complete.
func (b *readBatcher) close() { close(b.done) }
