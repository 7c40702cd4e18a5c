package testaddr

import (
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
)

func TestRefusedIsRefusedAndKept(t *testing.T) {
	addr := Refused(t)
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("another listener took %s", addr)
	}
}

func TestServeHandsOverEachConnection(t *testing.T) {
	addr := Serve(t, func(c net.Conn) { _, _ = c.Write([]byte("hi")) })
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c) // Serve closes the connection after serve
		c.Close()
		if err != nil || string(b) != "hi" {
			t.Fatalf("read %q, %v; want \"hi\" then EOF", b, err)
		}
	}
}

func TestFreePortIsFreeAndOutsideTheEphemeralRange(t *testing.T) {
	lo, hi := portRange()
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if p < lo || p >= hi {
			t.Fatalf("FreePort = %d, outside [%d, %d)", p, lo, hi)
		}
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("listen on the free port %d: %v", p, err)
		}
		ln.Close()
	}
	// An ephemeral port, as the kernel hands out for outgoing connections,
	// is never among them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if p := ln.Addr().(*net.TCPAddr).Port; p >= lo && p < hi {
		t.Fatalf("the kernel chose %d, inside FreePort's range [%d, %d)", p, lo, hi)
	}
}

func TestFreePortWithKeepsEveryOffsetFreeAndBelowTheEphemeralRange(t *testing.T) {
	lo, hi := portRange()
	// Hold a port p+10000 for some p, so that FreePortWith must skip p.
	taken := FreePortWith(t, 10000) + 10000
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The cursor advances by one per port tried: this many calls pass p.
	for range hi - 10000 - lo {
		p := FreePortWith(t, 10000)
		if p < lo || p+10000 >= hi {
			t.Fatalf("FreePortWith = %d, want %d <= p and p+10000 < %d", p, lo, hi)
		}
		if p+10000 == taken {
			t.Fatalf("FreePortWith = %d, whose p+10000 is held", p)
		}
		for _, q := range []int{p, p + 10000} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q)))
			if err != nil {
				t.Fatalf("listen on %d: %v", q, err)
			}
			l.Close()
		}
	}
}
