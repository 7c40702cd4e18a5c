package redisconn

import (
	"context"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Batcher sends the commands of concurrent calls together, as one
// pipeline. Under load many sidecar requests reach Redis at once; sent
// one by one, each costs a write and a read system call here and in Redis,
// and a wake-up on each side. A batch pays them once.
//
// One worker at a time holds the turn: it takes the first command that
// comes and every command waiting behind it, and sends them. Commands that
// arrive meanwhile wait for the next turn, which makes the batches grow
// with the load; with one request in flight a batch is that request alone
// and nothing waits for company. A batch still out after slowBatch (a large
// value, a busy server) passes the turn on, so one slow command does not
// hold up the others for long.
type Batcher struct {
	client  goredis.UniversalClient
	calls   chan *call
	turn    chan struct{}
	timeout time.Duration
	done    chan struct{}
}

type call struct {
	cmd  goredis.Cmder
	done chan struct{}
}

const (
	// batchWorkers bounds the batches in flight at once.
	batchWorkers = 4
	maxBatch     = 128
	// slowBatch is how long a batch holds the turn.
	slowBatch = time.Millisecond
)

// NewBatcher starts the workers of a Batcher over client; timeout bounds
// each batch. Close stops them.
func NewBatcher(client goredis.UniversalClient, timeout time.Duration) *Batcher {
	b := &Batcher{
		client:  client,
		calls:   make(chan *call, maxBatch),
		turn:    make(chan struct{}, 1),
		timeout: timeout,
		done:    make(chan struct{}),
	}
	for range batchWorkers {
		go b.work()
	}
	return b
}

// Do runs cmd in the next batch and returns its error; its result is in
// cmd. A caller that gives up returns at once: the worker still runs the
// command and drops the answer.
func (b *Batcher) Do(ctx context.Context, cmd goredis.Cmder) error {
	c := &call{cmd: cmd, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return goredis.ErrClosed
	}
	select {
	case <-c.done:
		return cmd.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Batcher) work() {
	batch := make([]*call, 0, maxBatch)
	for {
		select {
		case b.turn <- struct{}{}:
		case <-b.done:
			return
		}
		var first *call
		select {
		case first = <-b.calls:
		case <-b.done:
			<-b.turn
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		var passed atomic.Bool
		pass := func() {
			if passed.CompareAndSwap(false, true) {
				<-b.turn
			}
		}
		slow := time.AfterFunc(slowBatch, pass)
		// One deadline for the batch: the callers' contexts cannot be
		// merged, and a caller that gives up stops waiting on its own.
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if len(batch) == 1 {
			_ = b.client.Process(ctx, first.cmd)
		} else {
			pipe := b.client.Pipeline()
			for _, c := range batch {
				_ = pipe.Process(ctx, c.cmd)
			}
			_, _ = pipe.Exec(ctx) // each command carries its own error
		}
		cancel()
		slow.Stop()
		pass()
		for _, c := range batch {
			close(c.done)
		}
	}
}

// Close stops the workers; commands already taken complete.
func (b *Batcher) Close() { close(b.done) }
