// Command bytefwd is a reference point for bench/edge.sh, not a proxy: the
// least a Go program can do to forward the benchmark's requests. Each client
// connection gets one upstream connection and one goroutine; a request's
// header block is copied as bytes with two X-Forwarded headers appended, and
// the answer's header block and Content-Length body are copied back.
//
// It parses nothing else, so it handles only what the benchmark sends
// (requests without a body, answers with a Content-Length) and closes the
// connection on anything else. What the cove edge spends beyond it is the
// cost of handling HTTP as HTTP: net/http's parsing, ReverseProxy, routing
// and the ingress policies.
//
//	bytefwd -listen 127.0.0.1:9000 -upstream 127.0.0.1:8000
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"strconv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to serve")
	upstream := flag.String("upstream", "127.0.0.1:8000", "address to forward to")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			if err := forward(c, *upstream); err != nil && !errors.Is(err, io.EOF) {
				log.Print(err)
			}
		}()
	}
}

const bufSize = 16 << 10

var (
	forwarded     = []byte("X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n")
	contentLength = []byte("content-length:")
)

func forward(c net.Conn, upstream string) error {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return err
	}
	defer u.Close()
	cr, cw := bufio.NewReaderSize(c, bufSize), bufio.NewWriterSize(c, bufSize)
	ur, uw := bufio.NewReaderSize(u, bufSize), bufio.NewWriterSize(u, bufSize)
	var head []byte
	for {
		head, _, err = readHead(cr, head[:0])
		if err != nil {
			return err
		}
		uw.Write(head[:len(head)-2]) // without the blank line
		uw.Write(forwarded)
		if err := uw.Flush(); err != nil {
			return err
		}
		var n int64
		head, n, err = readHead(ur, head[:0])
		if err != nil {
			return err
		}
		if n < 0 {
			return errors.New("bytefwd: answer without Content-Length")
		}
		cw.Write(head)
		if _, err := io.CopyN(cw, ur, n); err != nil {
			return err
		}
		if err := cw.Flush(); err != nil {
			return err
		}
	}
}

// readHead appends one header block, up to and including its blank line,
// to buf, and returns its Content-Length (-1 without one).
func readHead(br *bufio.Reader, buf []byte) ([]byte, int64, error) {
	n := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return buf, n, err
		}
		buf = append(buf, line...)
		if len(line) <= 2 {
			return buf, n, nil
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			v, err := strconv.ParseInt(string(bytes.TrimSpace(line[len(contentLength):])), 10, 64)
			if err != nil {
				return buf, n, err
			}
			n = v
		}
	}
}
