package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HeaderAllowance is what net/http reads of a request's line and headers
// beyond the Server's MaxHeaderBytes before it answers 431: the limit in
// force is MaxHeaderBytes + HeaderAllowance, here as there.
const HeaderAllowance = 4 << 10

// Server serves HTTP/1.1 like its Fallback would, faster; the connections
// it does not serve itself go to Fallback. Handler, ReadHeaderTimeout,
// ReadTimeout, IdleTimeout, BaseContext, ConnContext and ErrorLog are read
// from Fallback, which must not change once Serve or ServeTLS is called.
type Server struct {
	Fallback *http.Server

	startFallback sync.Once

	mu sync.Mutex
	// handoff feeds the Fallback; set once, under mu, before any
	// connection is served.
	handoff   *ConnListener
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	date      dateCache
}

// New returns a Server that hands what it does not serve to fallback. It
// wraps fallback.ConnContext, which must be set before.
func New(fallback *http.Server) *Server {
	connContext := fallback.ConnContext
	fallback.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if pc, ok := c.(*prefixConn); ok && pc.tls != nil {
			ctx = context.WithValue(ctx, tlsKey{}, pc.tls)
		}
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		return ctx
	}
	return &Server{
		Fallback:  fallback,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// Serve accepts connections on ln until the Server is shut down or closed,
// then returns http.ErrServerClosed; any other error of Accept that is not
// temporary ends it too.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS is Serve for TLS connections, with Fallback.TLSConfig: HTTP/1.1
// is served here and h2, chosen by ALPN, by the Fallback. net/http's
// server sees a connection it takes over after a request was read from it
// as plain; TLS(r) still finds the connection's TLS state.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.Fallback.TLSConfig == nil {
		return errors.New("h1: ServeTLS needs Fallback.TLSConfig")
	}
	return s.serve(ln, s.Fallback.TLSConfig)
}

func (s *Server) serve(ln net.Listener, tlsConfig *tls.Config) error {
	handoff, ok := s.track(ln)
	if !ok {
		return http.ErrServerClosed
	}
	defer s.untrack(ln)
	s.startFallback.Do(func() {
		// It returns when the Fallback shuts down or closes.
		go func() { _ = s.Fallback.Serve(handoff) }()
	})
	base := context.Background()
	if s.Fallback.BaseContext != nil {
		if base = s.Fallback.BaseContext(ln); base == nil {
			panic("h1: BaseContext returned a nil context")
		}
	}
	base = context.WithValue(base, http.ServerContextKey, s.Fallback)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Running out of descriptors or a connection reset before
			// it was accepted passes; wait a little and go on.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logf("h1: accept error: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := s.newConn(base, nc, tlsConfig)
		if c == nil {
			nc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets each busy one
// finish its current request and waits for all of them until ctx ends,
// like http.Server.Shutdown; the Fallback shuts down alongside.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	fb := make(chan error, 1)
	go func() { fb <- s.Fallback.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			return <-fb
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes every listener and connection at once, the Fallback's too.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return s.Fallback.Close()
}

// track adds a listener to those Shutdown closes and returns the listener
// of connections handed to the Fallback, made with the first.
func (s *Server) track(ln net.Listener) (*ConnListener, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil, false
	}
	s.listeners[ln] = struct{}{}
	if s.handoff == nil {
		s.handoff = NewConnListener(ln.Addr())
	}
	return s.handoff, true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
		delete(s.listeners, ln)
	}
	if s.handoff != nil {
		s.handoff.Close()
	}
}

// closeIdle closes the connections waiting for a request and reports how
// many connections are left.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
	return len(s.conns)
}

func (s *Server) newConn(base context.Context, nc net.Conn, tlsConfig *tls.Config) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	c := newConn(s, base, nc)
	c.tlsConfig = tlsConfig
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

type tlsKey struct{}

// TLS returns the TLS state of the connection r came on, nil for plain
// HTTP: r.TLS, or what h1 recorded for a TLS connection it handed over.
func TLS(r *http.Request) *tls.ConnectionState {
	if r.TLS != nil {
		return r.TLS
	}
	st, _ := r.Context().Value(tlsKey{}).(*tls.ConnectionState)
	return st
}

func (s *Server) logf(format string, args ...any) {
	if s.Fallback.ErrorLog != nil {
		s.Fallback.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// dateCache formats the Date header once a second.
type dateCache struct {
	v atomic.Pointer[dateValue]
}

type dateValue struct {
	sec int64
	b   []byte
}

func (d *dateCache) get(now time.Time) []byte {
	sec := now.Unix()
	if v := d.v.Load(); v != nil && v.sec == sec {
		return v.b
	}
	v := &dateValue{sec: sec, b: now.UTC().AppendFormat(make([]byte, 0, 29), http.TimeFormat)}
	d.v.Store(v)
	return v.b
}
