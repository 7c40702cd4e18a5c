package h1

import (
	"net"
	"sync"
)

// ConnListener is a net.Listener fed with connections taken over from
// elsewhere: a server serves them as if it had accepted them.
type ConnListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewConnListener returns a listener that reports addr as its address.
func NewConnListener(addr net.Addr) *ConnListener {
	return &ConnListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *ConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *ConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *ConnListener) Addr() net.Addr { return l.addr }

// Deliver hands c to the server accepting on l; false once l is closed.
func (l *ConnListener) Deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}
