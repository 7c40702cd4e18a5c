// Command loadgen drives one kind of request at a fixed concurrency, at full
// speed or at a fixed rate, and prints one JSON line in the shape the bench
// scripts' report reads ({"name","qps","p50","p90","p99","ok","total"},
// latencies in milliseconds). It covers what fortio cannot: the official Dapr
// Go SDK over gRPC, Redis through go-redis as the direct baseline, and HTTP
// GETs timed from the write of the request to the last byte of the answer on
// kept-alive connections (one per worker), which the latency runs at a fixed
// rate use: fortio's timing adds its own scheduling to every request.
//
//	loadgen -name "sdk get" -mode dapr-grpc-get -addr 127.0.0.1:50001 -store statestore -key k
//	loadgen -name "redis"   -mode redis-hget    -addr 127.0.0.1:6379 -key 'app||k'
//	loadgen -name "edge"    -mode http-get      -addr 127.0.0.1:8080 -host web.localhost -path / -qps 1000
//	loadgen -name "actor"   -mode actor-http    -addr 127.0.0.1:3500 -type Bench -ids 1000
//	loadgen -name "activate" -mode actor-http   -addr 127.0.0.1:3500 -type Bench -ids 0 -count 10000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/redis/go-redis/v9"
)

func main() {
	var (
		name  = flag.String("name", "run", "name of the run in the report")
		mode  = flag.String("mode", "", "dapr-grpc-get, dapr-grpc-save, redis-hget, redis-hset or http-get")
		addr  = flag.String("addr", "", "sidecar gRPC address, Redis address or HTTP server host:port")
		host  = flag.String("host", "", "Host header (http-get); default the address")
		path  = flag.String("path", "/", "request path (http-get)")
		store = flag.String("store", "statestore", "state store name (dapr modes)")
		key   = flag.String("key", "bench", "key to read or write")
		conc  = flag.Int("c", 16, "concurrent workers")
		dur   = flag.Duration("d", 10*time.Second, "duration")
		qps   = flag.Float64("qps", 0, "total requests per second; 0 is as fast as possible")
		out   = flag.String("out", "", "append the result line to this file instead of stdout (the Dapr SDK logs to stdout)")
		typ   = flag.String("type", "Bench", "actor type (actor-http)")
		ids   = flag.Int("ids", 1000, "actor ids called at random (actor-http); 0: a new actor each call")
		count = flag.Int64("count", 0, "stop after this many requests; 0: run for -d")
	)
	flag.Parse()
	var (
		op      func(context.Context) error
		cleanup func()
		err     error
	)
	switch *mode {
	case "http-get":
		op, cleanup = newHTTP(*addr, *host, "GET", func() string { return *path }, *conc)
	case "actor-http":
		op, cleanup = newHTTP(*addr, *host, "POST", actorPath(*typ, *ids), *conc)
	default:
		op, cleanup, err = newOp(*mode, *addr, *store, *key)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	defer cleanup()
	if err := op(context.Background()); err != nil { // warm up, and fail fast
		fmt.Fprintln(os.Stderr, "loadgen: first request:", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var left atomic.Int64
	left.Store(*count)
	var (
		mu     sync.Mutex
		all    []time.Duration
		errors int
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range *conc {
		wg.Go(func() {
			var lat []time.Duration
			errs := 0
			var tick *time.Ticker
			if *qps > 0 {
				// Workers start a fraction of a period apart, so requests
				// arrive evenly rather than in bursts of conc.
				period := time.Duration(float64(*conc) / *qps * float64(time.Second))
				time.Sleep(period * time.Duration(w) / time.Duration(*conc))
				tick = time.NewTicker(period)
				defer tick.Stop()
			}
			for ctx.Err() == nil {
				if tick != nil {
					select {
					case <-tick.C:
					case <-ctx.Done():
						continue
					}
				}
				if *count > 0 && left.Add(-1) < 0 {
					cancel()
					continue
				}
				t0 := time.Now()
				if err := op(context.Background()); err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1e6
	}
	w := os.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name": *name, "qps": float64(len(all)) / elapsed.Seconds(), "seconds": elapsed.Seconds(),
		"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
		"ok": len(all), "total": len(all) + errors,
	})
}

// newOp returns the request to repeat.
func newOp(mode, addr, store, key string) (func(context.Context) error, func(), error) {
	switch mode {
	case "dapr-grpc-get", "dapr-grpc-save":
		c, err := dapr.NewClientWithAddressContext(context.Background(), addr)
		if err != nil {
			return nil, nil, err
		}
		if mode == "dapr-grpc-get" {
			return func(ctx context.Context) error {
				_, err := c.GetState(ctx, store, key, nil)
				return err
			}, c.Close, nil
		}
		val := []byte(`{"bench":true}`)
		return func(ctx context.Context) error { return c.SaveState(ctx, store, key, val, nil) }, c.Close, nil
	case "redis-hget", "redis-hset":
		// Dapr's Redis layout: a hash with data and version fields.
		r := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		cleanup := func() { _ = r.Close() }
		if mode == "redis-hget" {
			return func(ctx context.Context) error { return r.HMGet(ctx, key, "data", "version").Err() }, cleanup, nil
		}
		return func(ctx context.Context) error {
			return r.HSet(ctx, key, "data", `{"bench":true}`, "version", 1).Err()
		}, cleanup, nil
	}
	return nil, nil, fmt.Errorf("unknown mode %q", mode)
}

// actorPath returns the path of an actor method call: an id among ids at
// random, or with ids 0 a new one each call (activations).
func actorPath(typ string, ids int) func() string {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var n atomic.Int64
	return func() string {
		id := ""
		if ids > 0 {
			id = strconv.Itoa(rand.IntN(ids))
		} else {
			id = run + "-" + strconv.FormatInt(n.Add(1), 10)
		}
		return "/v1.0/actors/" + typ + "/" + id + "/method/bench"
	}
}

// newHTTP returns a request without a body on kept-alive HTTP/1.1
// connections, at most conc of them, each used by one request at a time.
func newHTTP(addr, host, method string, path func() string, conc int) (func(context.Context) error, func()) {
	if host == "" {
		host = addr
	}
	head := []byte(" HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: cove-loadgen\r\nContent-Length: 0\r\n\r\n")
	type conn struct {
		nc net.Conn
		br *bufio.Reader
	}
	idle := make(chan *conn, conc)
	op := func(context.Context) error {
		req := append([]byte(method+" "+path()), head...)
		var c *conn
		select {
		case c = <-idle:
		default:
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			c = &conn{nc: nc, br: bufio.NewReader(nc)}
		}
		if _, err := c.nc.Write(req); err != nil {
			c.nc.Close()
			return err
		}
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			c.nc.Close()
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.Close {
			c.nc.Close()
			return err
		}
		idle <- c
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	cleanup := func() {
		for {
			select {
			case c := <-idle:
				c.nc.Close()
			default:
				return
			}
		}
	}
	return op, cleanup
}
