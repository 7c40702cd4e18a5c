package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cove-env/cove/internal/routing"
)

const (
	// DefaultTCPIdleTimeout closes a TCP connection through the edge when
	// neither side has sent a byte for this long. It is Envoy's default for
	// TCP proxying: long enough for database sessions and message brokers
	// that go quiet between bursts.
	DefaultTCPIdleTimeout = time.Hour
	// DefaultTCPMaxConns bounds the connections one TCP port carries at a
	// time; past it new connections are closed at once, so a flood cannot
	// exhaust the process's file descriptors.
	DefaultTCPMaxConns = 1024

	tcpBufferSize = 32 << 10
)

// TCPPort names what a TCP listener of the edge serves: an app's exposed
// port, either its main ingress with transport tcp or one of its
// additionalPortMappings. On the public address only external ports are
// served; a listener for callers inside the environment (Inside, on the
// app's own address) serves internal ones too, and, as the internal proxy,
// applies no ipSecurityRestrictions.
type TCPPort struct {
	App    string
	Port   int
	Inside bool
}

func (p TCPPort) String() string {
	if p.Inside {
		return fmt.Sprintf("%s:%d (inside)", p.App, p.Port)
	}
	return fmt.Sprintf("%s:%d", p.App, p.Port)
}

// ServeTCP accepts raw TCP connections on ln and proxies each, bytes as
// they are, to a ready replica of p.App by round robin. The app, its port
// and its ipSecurityRestrictions are looked up in the routing table for
// every connection, so a port that stops being external refuses new
// connections at once.
//
// ServeTCP returns when ln is closed, leaving its connections to finish,
// which is how a reload takes a port away without cutting what is in
// flight; or when ctx ends, after closing ln and every connection it
// accepted.
func (e *Edge) ServeTCP(ctx context.Context, ln net.Listener, p TCPPort) error {
	log := e.log.With("app", p.App, "port", p.Port, "inside", p.Inside)
	log.LogAttrs(ctx, slog.LevelInfo, "edge listening", slog.String("listener", "tcp"), slog.String("addr", ln.Addr().String()))
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	slots := make(chan struct{}, e.tcpMaxConns)
	var wg sync.WaitGroup
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() {
				continue // EMFILE and the like pass; the listener is still good
			}
			if !errors.Is(aerr, net.ErrClosed) {
				err = fmt.Errorf("tcp listener %s for %s: %w", ln.Addr(), p, aerr)
			}
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			log.LogAttrs(ctx, slog.LevelWarn, "tcp connection refused: too many connections",
				slog.String("client", c.RemoteAddr().String()), slog.Int("limit", e.tcpMaxConns))
			c.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			e.serveTCPConn(ctx, c, p, log)
		})
	}
	if ctx.Err() != nil {
		// Shutting down: every connection is closed by its AfterFunc.
		wg.Wait()
	}
	return err
}

// serveTCPConn proxies one client connection.
func (e *Edge) serveTCPConn(ctx context.Context, c net.Conn, p TCPPort, log *slog.Logger) {
	defer c.Close()
	start := time.Now()
	client := c.RemoteAddr().String()
	attrs := []slog.Attr{slog.String("client", client)}
	app, target, reason := tcpRoute(e.routes.Load(), p, client)
	if reason != "" {
		log.LogAttrs(ctx, slog.LevelDebug, "tcp connection refused", append(attrs, slog.String("reason", reason))...)
		return
	}
	up, ep, err := e.dialReplica(ctx, app, target)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelDebug, "tcp connection refused", append(attrs, slog.String("reason", err.Error()))...)
		return
	}
	defer up.Close()
	done := ep.Begin()
	defer done()
	stop := context.AfterFunc(ctx, func() {
		c.Close()
		up.Close()
	})
	defer stop()

	in, out := splice(c, up, e.tcpIdle)
	if log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "tcp connection", append(attrs,
			slog.String("replica", ep.Replica), slog.String("upstream", up.RemoteAddr().String()),
			slog.Int64("bytes_in", in), slog.Int64("bytes_out", out), slog.Duration("duration", time.Since(start)))...)
	}
}

// tcpRoute checks a new connection against the current table: the app must
// still expose the port (externally, for a public listener), and on the
// public address its IP rules must admit the client. reason is set when the
// connection is refused.
func tcpRoute(t *routing.Table, p TCPPort, client string) (app *routing.App, target int, reason string) {
	app, ok := t.App(p.App)
	if !ok {
		return nil, 0, "the app is gone"
	}
	target, ok = app.Ingress.TCPTarget(p.Port, p.Inside)
	if !ok {
		if p.Inside {
			return nil, 0, "the app no longer exposes the port"
		}
		return nil, 0, "the app no longer exposes the port externally"
	}
	if rules := app.Ingress.IPRules; rules != nil && !p.Inside {
		ap, err := netip.ParseAddrPort(client)
		if err != nil || !rules.Permits(ap.Addr()) {
			return nil, 0, "client address not allowed (ipSecurityRestrictions)"
		}
	}
	if len(app.Endpoints) == 0 {
		return nil, 0, "no ready replica"
	}
	return app, target, ""
}

// dialReplica connects to a ready replica's port for target, trying the
// next replica by round robin when one refuses, at most once each.
func (e *Edge) dialReplica(ctx context.Context, app *routing.App, target int) (net.Conn, routing.Endpoint, error) {
	var errs []error
	for range len(app.Endpoints) {
		ep, ok := app.Pick()
		if !ok {
			break
		}
		addr, ok := ep.AddrFor(target, app.Ingress.TargetPort)
		if !ok {
			errs = append(errs, fmt.Errorf("replica %s has no port for target port %d", ep.Replica, target))
			continue
		}
		up, err := e.dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return up, ep, nil
		}
		errs = append(errs, fmt.Errorf("replica %s: %w", ep.Replica, err))
	}
	if len(errs) == 0 {
		return nil, routing.Endpoint{}, errors.New("no ready replica")
	}
	return nil, routing.Endpoint{}, errors.Join(errs...)
}

// splice copies bytes both ways until both directions have ended. A side
// that finishes sending half-closes the other connection, so protocols that
// signal the end of a request with EOF work; an error on either side, or
// idle time with no byte in either direction, ends both. It returns the
// bytes copied from a to b and from b to a.
func splice(a, b net.Conn, idle time.Duration) (ab, ba int64) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	type result struct {
		n   int64
		err error
	}
	abc, bac := make(chan result, 1), make(chan result, 1)
	run := func(dst, src net.Conn, out chan<- result) {
		n, err := copyIdle(dst, src, &last, idle)
		if err == nil {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				dst.Close()
			}
		} else {
			// One side broke or went idle; the other would wait forever.
			a.Close()
			b.Close()
		}
		out <- result{n, err}
	}
	go run(b, a, abc)
	go run(a, b, bac)
	r1, r2 := <-abc, <-bac
	return r1.n, r2.n
}

// copyIdle copies src to dst until src's EOF (nil) or an error. A read that
// times out is retried while the connection pair has seen traffic within
// idle, in either direction: last is shared by both copies.
func copyIdle(dst, src net.Conn, last *atomic.Int64, idle time.Duration) (int64, error) {
	buf := make([]byte, tcpBufferSize)
	var total int64
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			_ = dst.SetWriteDeadline(time.Now().Add(idle))
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return total, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if since := time.Since(time.Unix(0, last.Load())); since < idle {
				continue
			}
			return total, fmt.Errorf("idle for %s: %w", idle, err)
		default:
			return total, err
		}
	}
}
