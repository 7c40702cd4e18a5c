package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/cove-env/cove/internal/components/pubsub"
)

// testDown publishes through a proxy to the real server, stops the proxy
// and publishes again: the second publish must fail rather than be
// acknowledged, and the first must still be delivered.
func testDown(f *fixture) {
	if f.cfg.downBroker == nil {
		f.t.Skip("the broker has no server to lose")
	}
	p, err := startProxy(f.cfg.downUpstream)
	if err != nil {
		f.t.Fatalf("proxy: %v", err)
	}
	defer p.stop()
	sub := f.newBroker(f.t)
	r := newReceived()
	f.subscribe(sub, f.t.Context(), f.group(1), r.handler)

	ps := f.cfg.downBroker(f.t, p.addr())
	f.publish(ps, "stored")
	p.stop()
	ctx, cancel := context.WithTimeout(f.t.Context(), 15*time.Second)
	defer cancel()
	start := time.Now()
	err = ps.Publish(ctx, &pubsub.PublishRequest{Topic: f.topic, Data: []byte("lost")})
	if err == nil {
		f.t.Fatal("publish to a broker that is down was acknowledged")
	}
	if errors.Is(err, pubsub.ErrInvalidRequest) || errors.Is(err, pubsub.ErrClosed) {
		f.t.Errorf("publish to a broker that is down: %v, want a broker error", err)
	}
	f.t.Logf("publish while down failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	r.waitBodies(f.t, deliveryWait, []string{"stored"})
}

// testResume cuts a subscriber's connections to the server and expects
// its subscription to come back by itself: messages published after the
// cut reach it again.
func testResume(f *fixture) {
	if f.cfg.downBroker == nil {
		f.t.Skip("the broker has no server to lose")
	}
	p, err := startProxy(f.cfg.downUpstream)
	if err != nil {
		f.t.Fatalf("proxy: %v", err)
	}
	defer p.stop()
	sub := f.cfg.downBroker(f.t, p.addr())
	r := newReceived()
	f.subscribe(sub, f.t.Context(), f.group(1), r.handler)
	pub := f.newBroker(f.t)
	f.publish(pub, "before")
	r.waitBodies(f.t, deliveryWait, []string{"before"})
	p.cut()
	// Publish until one arrives: what a broker without kept sessions
	// publishes while the subscriber reconnects is not its to get.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		f.publish(pub, fmt.Sprintf("after-%d", i))
		got := false
		for _, b := range r.bodies() {
			got = got || strings.HasPrefix(b, "after-")
		}
		if got {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no message reached the subscription in 30s after its connection dropped; received %q", r.bodies())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// proxy forwards TCP connections to upstream until stopped, then refuses
// new ones and cuts those open.
type proxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	conns    []net.Conn
	stopped  bool
}

func startProxy(upstream string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, upstream: upstream}
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, u) {
			return
		}
		go pipe(c, u)
		go pipe(u, c)
	}
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	p.conns = append(p.conns, cs...)
	return true
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut closes the connections open now and keeps accepting new ones, as a
// server restart or a network blip looks to a client.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
}
