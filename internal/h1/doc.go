// Package h1 serves plain HTTP/1.1 requests on each connection's own
// goroutine and hands every other connection to a net/http Server.
//
// net/http's server starts a background read for every request without a
// body, so that it can cancel the request's context when the client leaves;
// that costs a goroutine wake-up, a failed read and two deadline changes per
// request, about a fifth of what the edge spends proxying a small request.
// Server reads a request, runs the handler and writes the answer in one
// goroutine, and only watches for a client that leaves once a request has
// run for a while (watchAfter).
//
// It parses with net/http's own code (http.ReadRequest) and checks requests
// as net/http's server does, except that it refuses a request with both
// Content-Length and Transfer-Encoding, even one it would hand over: two
// framings of one body are how requests are smuggled. It answers through a ResponseWriter with the
// same framing rules (Content-Length for a body the handler finished,
// chunked otherwise, trailers, HEAD, 1xx, Date and Content-Type sniffing).
// A connection whose first bytes are not a plain request (HTTP/2 prior
// knowledge, CONNECT, an Upgrade, Expect: 100-continue, or a header larger
// than its read buffer) goes, with the bytes read so far, to the net/http
// Server the Server wraps, and stays there.
package h1
