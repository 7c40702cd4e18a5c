package netns

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Forward relays connections to Listen, inside a namespace, to Target, on
// the machine.
type Forward struct {
	Listen string `json:"listen"`
	Target string `json:"target"`
}

// dialFunc opens a connection to addr.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// serve relays every connection each listener accepts to its target,
// dialled with dial, until stop is called; stop closes the listeners and
// waits for the accept loops.
func serve(lns []net.Listener, targets []string, dial dialFunc, log *slog.Logger) (stop func()) {
	var wg sync.WaitGroup
	for i, ln := range lns {
		target := targets[i]
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go relay(c, target, dial, log)
			}
		})
	}
	return func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}
}

// dialTimeout bounds a relay's dial; its targets are on loopback, where a
// dial that takes longer has a full listen queue behind it.
const dialTimeout = 10 * time.Second

// relay copies between c and a new connection to target until both
// directions are done.
func relay(c net.Conn, target string, dial dialFunc, log *slog.Logger) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	t, err := dial(ctx, "tcp", target)
	cancel()
	if err != nil {
		log.Debug("relay", "target", target, "err", err)
		return
	}
	defer t.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(t, c)
		closeWrite(t)
		close(done)
	}()
	_, _ = io.Copy(c, t)
	closeWrite(c)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// machineDial dials from the machine's namespace.
func machineDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
