package invoke

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// connPool holds one client connection per app replica address, shared by
// every call to that replica. A connection nobody has used for the idle
// timeout is closed; the next call opens a new one.
//
// Lock order: connPool.mu only; timers run closeIdle, which takes it.
type connPool struct {
	idle time.Duration
	log  *slog.Logger

	mu    sync.Mutex
	conns map[string]*pooledConn
}

type pooledConn struct {
	addr  string
	cc    *grpc.ClientConn
	refs  int
	timer *time.Timer // armed while refs is zero
}

func newConnPool(idle time.Duration, log *slog.Logger) *connPool {
	return &connPool{idle: idle, log: log, conns: map[string]*pooledConn{}}
}

// get returns the connection to addr, opening it on first use. The caller
// must put it back.
func (p *connPool) get(addr string) (*pooledConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc, ok := p.conns[addr]
	if !ok {
		// NewClient does not dial: the connection is made on first use and
		// re-made after failures, so a replica restarting on the same
		// address is picked up again.
		cc, err := grpc.NewClient("passthrough:///"+addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithReadBufferSize(32<<10),
			grpc.WithWriteBufferSize(32<<10),
		)
		if err != nil {
			return nil, fmt.Errorf("grpc client for %s: %w", addr, err)
		}
		pc = &pooledConn{addr: addr, cc: cc}
		p.conns[addr] = pc
	}
	if pc.timer != nil {
		pc.timer.Stop()
		pc.timer = nil
	}
	pc.refs++
	return pc, nil
}

// put releases one use; the last one arms the idle timer.
func (p *connPool) put(pc *pooledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc.refs--
	if pc.refs > 0 || p.conns[pc.addr] != pc {
		return
	}
	pc.timer = time.AfterFunc(p.idle, func() { p.closeIdle(pc) })
}

// closeIdle closes pc if it is still pooled and still unused (a get may
// have won the race with the timer).
func (p *connPool) closeIdle(pc *pooledConn) {
	p.mu.Lock()
	if pc.refs > 0 || p.conns[pc.addr] != pc {
		p.mu.Unlock()
		return
	}
	delete(p.conns, pc.addr)
	p.mu.Unlock()
	p.log.Debug("closing idle app connection", slog.String("addr", pc.addr))
	_ = pc.cc.Close()
}

// closeAll closes every pooled connection; calls still using one fail.
func (p *connPool) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*pooledConn{}
	p.mu.Unlock()
	for _, pc := range conns {
		if pc.timer != nil {
			pc.timer.Stop()
		}
		_ = pc.cc.Close()
	}
}

// size is the number of open connections, for tests.
func (p *connPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
