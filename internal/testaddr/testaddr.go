// Package testaddr gives tests addresses with a known fate.
package testaddr

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// Refused returns a loopback address where TCP connections are refused
// until the test ends. A socket holds the port, bound but not listening:
// the port of a listener closed at once is free for any other test or
// process to listen on, and a call meant to fail would reach it.
func Refused(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// FreePort returns a loopback port nothing listens on at the time of the
// call, for a server the test starts next.
//
// The port comes from just below the kernel's ephemeral range, which the
// kernel never hands out on its own: a port it chose for a listener on :0
// could go to another process's outgoing connection, or to its own :0
// listener, before the test binds it. Within a process, ports are taken in
// turn from a random start, so no two calls return the same one.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePortWith(t)
}

// FreePortWith returns a port as FreePort does, such that each port+offset
// is free too and also below the ephemeral range: for a server that binds
// more than one port, as a Redis Cluster node binds its cluster bus port
// at port+10000.
func FreePortWith(t testing.TB, offsets ...int) int {
	t.Helper()
	lo, hi := portRange()
	for _, o := range offsets {
		hi -= o
	}
	if hi <= lo {
		t.Fatalf("no port p with p+%v below %d", offsets, hi)
	}
	for range hi - lo {
		p := lo + int(cursor.Add(1)%uint32(hi-lo))
		if free(p, offsets) {
			return p
		}
	}
	if len(offsets) > 0 {
		t.Fatalf("no free port p in [%d, %d) with p+%v free", lo, hi, offsets)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// free reports whether p and each p+offset can be listened on now.
func free(p int, offsets []int) bool {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for _, o := range append([]int{0}, offsets...) {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+o)))
		if err != nil {
			return false // taken; try the next
		}
		held = append(held, ln)
	}
	return true
}

// cursor walks the range of FreePort; the only state this package keeps.
var cursor = func() *atomic.Uint32 {
	var c atomic.Uint32
	c.Store(rand.Uint32())
	return &c
}()

// portRange is the 16,384 ports below the ephemeral range (32768-60999
// unless the machine says otherwise), never below 1024.
func portRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				hi = n
			}
		}
	}
	return max(1024, hi-16384), hi
}

// Serve listens on a loopback port until the test ends and hands each
// connection to serve on a goroutine of its own, closing it after. It
// returns the address.
func Serve(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	return ServeOn(t, "127.0.0.1:0", serve)
}

// ServeOn is Serve on addr.
func ServeOn(t testing.TB, addr string, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ServeListener(t, ln, serve)
}

// ServeListener is Serve on a listener the test opened.
func ServeListener(t testing.TB, ln net.Listener, serve func(net.Conn)) string {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}
