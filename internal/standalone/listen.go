package standalone

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// listen opens port on every address ("" is every interface), as daprd's
// --dapr-listen-addresses does, and returns one listener over them. Port 0
// picks a free port on the first address and uses it for the others.
func listen(addrs []string, port int) (net.Listener, error) {
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listen on %s: %w", net.JoinHostPort(a, strconv.Itoa(port)), err)
		}
		if port == 0 {
			port = ln.Addr().(*net.TCPAddr).Port
		}
		lns = append(lns, ln)
	}
	if len(lns) == 1 {
		return lns[0], nil
	}
	return newMultiListener(lns), nil
}

// multiListener accepts on several listeners at once; Addr is the first's.
type multiListener struct {
	lns       []net.Listener
	conns     chan net.Conn
	errs      chan error
	done      chan struct{}
	closeOnce sync.Once
}

func newMultiListener(lns []net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error, len(lns)), done: make(chan struct{})}
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					select {
					case m.errs <- err:
					case <-m.done:
					}
					return
				}
				select {
				case m.conns <- c:
				case <-m.done:
					_ = c.Close()
					return
				}
			}
		}()
	}
	return m
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			_ = ln.Close()
		}
	})
	return nil
}

func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }

// advertiseHost is the host other sidecars reach this one at: hostIP
// (daprd's HOST_IP) when set, the listen address when it is one, otherwise
// the address of the interface that routes outwards, or loopback.
func advertiseHost(hostIP, listenHost string) string {
	if hostIP != "" {
		return hostIP
	}
	if ip := net.ParseIP(listenHost); ip != nil && !ip.IsUnspecified() {
		return listenHost
	}
	if listenHost != "" && net.ParseIP(listenHost) == nil {
		return listenHost // a host name
	}
	// No packet is sent: connecting a UDP socket only picks a route.
	if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsUnspecified() {
			return a.IP.String()
		}
	}
	return "127.0.0.1"
}

// limitTransport bounds the calls in flight to the app (daprd's
// --app-max-concurrency); a slot is held until the response body is
// closed.
type limitTransport struct {
	rt  http.RoundTripper
	sem chan struct{}
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case t.sem <- struct{}{}:
	case <-req.Context().Done():
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, req.Context().Err()
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		<-t.sem
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { <-t.sem }}
	return resp, nil
}

func (t *limitTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
