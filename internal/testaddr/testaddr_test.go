package testaddr

import (
	"errors"
	"io"
	"net"
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
