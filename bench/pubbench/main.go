// Command pubbench measures publish-to-delivery throughput and latency of
// pub/sub for bench/pubsub.sh, either through a Dapr sidecar or with a
// broker's own Go client doing the same work.
//
// With -mode dapr it is the subscriber app of a sidecar (it answers
// GET /dapr/subscribe with -topic on -pubsub and takes the events on
// /events) and, on GET /run, the publisher: -c goroutines publish through the
// sidecar's HTTP publish API for -d, then it waits for every event and
// answers one JSON result line. -mode dapr-grpc is the same app written
// with the Dapr Go SDK over the sidecar's gRPC port: PublishEvent, and a
// streaming subscription (SubscribeTopicEventsAlpha1) in place of the app
// server the sidecar would call; its HTTP server only takes /ready and /run.
// With -mode redis or -mode nats it publishes
// and consumes with go-redis (Streams, a consumer group, XACK) or nats.go
// (JetStream, a durable pull consumer, an ack per message) and prints the
// line. Each message carries its send time; latency is send to delivery.
//
// With -bulk N the same work goes N events at a time: in dapr mode each
// publisher sends N events per bulk publish call and the app subscribes
// with bulkSubscribe (batches of up to N, answered per entry); go-redis
// pipelines N XADDs per round trip and reads up to N entries per
// XREADGROUP (one XACK each); nats.go publishes N asynchronously before
// waiting for their acks and pulls up to N per request.
// The line's cpu_us is the CPU time used per delivered event by this
// process and, in dapr mode, the sidecar whose process id GET /run?cpu=
// names: what the machine spends on an event outside the broker.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"
)

var (
	mode    = flag.String("mode", "dapr", "dapr, dapr-grpc, redis or nats")
	listen  = flag.String("listen", "127.0.0.1:0", "dapr: the app's address")
	sidecar = flag.String("sidecar", "", "dapr: the sidecar's HTTP address; dapr-grpc: its gRPC address")
	pubsub  = flag.String("pubsub", "pubsub", "dapr: the pub/sub component")
	topic   = flag.String("topic", "bench", "the topic (redis: stream, nats: subject)")
	name    = flag.String("name", "", "the name of the result line")
	conc    = flag.Int("c", 16, "concurrent publishers")
	dur     = flag.Duration("d", 10*time.Second, "how long to publish")
	addr    = flag.String("addr", "", "redis: host:port; nats: URL")
	bulk    = flag.Int("bulk", 0, "events per publish call and per delivered batch (0: one at a time)")
)

// recorder collects delivery latencies of one run.
type recorder struct {
	mu    sync.Mutex
	lat   []time.Duration
	last  time.Time
	count atomic.Int64
}

func (r *recorder) got(body []byte) {
	var m struct {
		T int64 `json:"t"`
	}
	if json.Unmarshal(body, &m) != nil || m.T == 0 {
		return
	}
	now := time.Now()
	r.mu.Lock()
	r.lat = append(r.lat, now.Sub(time.Unix(0, m.T)))
	r.last = now
	r.mu.Unlock()
	r.count.Add(1)
}

// cpuTime is the user and system CPU time process pid has used so far; 0
// when it cannot be read (not Linux, the process gone).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// utime and stime are fields 14 and 15; the command name before them,
	// in parentheses, may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond // clock ticks of 1/100 s
}

// perCall is how many events one publish call carries.
func perCall() int { return max(*bulk, 1) }

// readCount is how many entries one read asks for: the single runs read up
// to 100, as cove's Redis subscription does by default.
func readCount() int {
	if *bulk > 0 {
		return *bulk
	}
	return 100
}

// run publishes with conc goroutines for d, each call carrying perCall()
// events, waits up to 30 s for the deliveries and returns the result line;
// pids are the processes whose CPU time counts with this one's.
func run(rec *recorder, publish func(ctx context.Context, bodies [][]byte) error, pids ...int) (string, error) {
	pids = append(pids, os.Getpid())
	cpu := func() (d time.Duration) {
		for _, p := range pids {
			d += cpuTime(p)
		}
		return d
	}
	cpu0, self0 := cpu(), cpuTime(os.Getpid())
	rec.mu.Lock()
	rec.lat, rec.last = rec.lat[:0], time.Time{}
	rec.mu.Unlock()
	rec.count.Store(0)
	var sent, failed atomic.Int64
	start := time.Now()
	stop := start.Add(*dur)
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies := make([][]byte, perCall())
			for time.Now().Before(stop) {
				for i := range bodies {
					bodies[i] = fmt.Appendf(bodies[i][:0], `{"t":%d}`, time.Now().UnixNano())
				}
				if err := publish(context.Background(), bodies); err != nil {
					failed.Add(int64(len(bodies)))
					continue
				}
				sent.Add(int64(len(bodies)))
			}
		}()
	}
	wg.Wait()
	for end := time.Now().Add(30 * time.Second); rec.count.Load() < sent.Load() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	used, self := cpu()-cpu0, cpuTime(os.Getpid())-self0
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := len(rec.lat)
	if n == 0 {
		return "", fmt.Errorf("%s: nothing delivered (%d published, %d failed)", *name, sent.Load(), failed.Load())
	}
	sort.Slice(rec.lat, func(i, j int) bool { return rec.lat[i] < rec.lat[j] })
	pct := func(p float64) float64 { return float64(rec.lat[int(p*float64(n-1))]) / 1e6 }
	line, err := json.Marshal(map[string]any{
		"name": *name, "qps": float64(n) / rec.last.Sub(start).Seconds(),
		"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
		"ok": n, "total": sent.Load() + failed.Load(),
		"cpu_us": float64(used.Microseconds()) / float64(n),
		// This process's share: in dapr mode the app's, the rest the sidecar's.
		"cpu_self_us": float64(self.Microseconds()) / float64(n),
	})
	return string(line), err
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("pubbench: ")
	flag.Parse()
	rec := &recorder{}
	var err error
	switch *mode {
	case "dapr", "dapr-grpc":
		err = serveApp(rec)
	case "redis":
		err = runRedis(rec)
	case "nats":
		err = runNATS(rec)
	default:
		err = fmt.Errorf("-mode %q: use dapr, dapr-grpc, redis or nats", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// serveApp is the sidecar's app; GET /run runs the load through the
// sidecar.
func serveApp(rec *recorder) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}}
	url := "http://" + *sidecar + "/v1.0/publish/" + *pubsub + "/" + *topic
	if *bulk > 0 {
		url = "http://" + *sidecar + "/v1.0-alpha1/publish/bulk/" + *pubsub + "/" + *topic
	}
	publish := func(ctx context.Context, bodies [][]byte) error {
		body := bodies[0]
		if *bulk > 0 {
			body = bulkBody(bodies)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("publish: %s", resp.Status)
		}
		return nil
	}
	if *mode == "dapr-grpc" {
		publish = grpcPublisher(rec)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		sub := map[string]any{"pubsubname": *pubsub, "topic": *topic, "route": "/events"}
		if *bulk > 0 {
			sub["route"] = "/events/bulk"
			sub["bulkSubscribe"] = map[string]any{"enabled": true, "maxMessagesCount": *bulk, "maxAwaitDurationMs": 20}
		}
		_ = json.NewEncoder(w).Encode([]any{sub})
	})
	// A batch's entries each carry a CloudEvent; every one is a success.
	mux.HandleFunc("POST /events/bulk", func(w http.ResponseWriter, r *http.Request) {
		var batch struct {
			Entries []struct {
				EntryID string `json:"entryId"`
				Event   struct {
					Data json.RawMessage `json:"data"`
				} `json:"event"`
			} `json:"entries"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := make([]byte, 0, 16+len(batch.Entries)*64)
		out = append(out, `{"statuses":[`...)
		for i, e := range batch.Entries {
			rec.got(e.Event.Data)
			if i > 0 {
				out = append(out, ',')
			}
			out = fmt.Appendf(out, `{"entryId":%q,"status":"SUCCESS"}`, e.EntryID)
		}
		out = append(out, "]}"...)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data json.RawMessage `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &ev) == nil {
			rec.got(ev.Data)
		}
	})
	mux.HandleFunc("GET /run", func(w http.ResponseWriter, r *http.Request) {
		var pids []int
		if p, err := strconv.Atoi(r.URL.Query().Get("cpu")); err == nil {
			pids = append(pids, p)
		}
		line, err := run(rec, publish, pids...)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, line+"\n")
	})
	// A first event delivered shows the subscription is live.
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		before := rec.count.Load()
		for range 100 {
			bodies := make([][]byte, perCall())
			for i := range bodies {
				bodies[i] = fmt.Appendf(nil, `{"t":%d}`, time.Now().UnixNano())
			}
			if err := publish(r.Context(), bodies); err == nil {
				time.Sleep(100 * time.Millisecond)
				if rec.count.Load() > before {
					return
				}
			} else {
				time.Sleep(100 * time.Millisecond)
			}
		}
		http.Error(w, "no event delivered", http.StatusServiceUnavailable)
	})
	return http.ListenAndServe(*listen, mux)
}

// grpcPublisher publishes with the Dapr Go SDK over the sidecar's gRPC
// port. The first call connects and subscribes to -topic with a streaming
// subscription, whose events the recorder gets: the app starts before its
// sidecar.
func grpcPublisher(rec *recorder) func(ctx context.Context, bodies [][]byte) error {
	connect := sync.OnceValues(func() (dapr.Client, error) {
		c, err := dapr.NewClientWithAddressContext(context.Background(), *sidecar)
		if err != nil {
			return nil, err
		}
		opts := dapr.SubscriptionOptions{PubsubName: *pubsub, Topic: *topic}
		if _, err := c.SubscribeWithHandler(context.Background(), opts, func(e *common.TopicEvent) common.SubscriptionResponseStatus {
			rec.got(e.RawData)
			return common.SubscriptionResponseStatusSuccess
		}); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		return c, nil
	})
	return func(ctx context.Context, bodies [][]byte) error {
		c, err := connect()
		if err != nil {
			return err
		}
		return c.PublishEvent(ctx, *pubsub, *topic, bodies[0], dapr.PublishEventWithContentType("application/json"))
	}
}

// bulkBody is a bulk publish request of the events in bodies, in Dapr's
// shape: a JSON list of entries with entryId, event and contentType.
func bulkBody(bodies [][]byte) []byte {
	out := make([]byte, 0, len(bodies)*80)
	out = append(out, '[')
	for i, b := range bodies {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"entryId":"%d","event":%s,"contentType":"application/json"}`, i, b)
	}
	return append(out, ']')
}

// runRedis does the work of a Redis Streams subscriber: XADD, XREADGROUP
// in the consumer group, XACK each read's messages at once.
func runRedis(rec *recorder) error {
	ctx := context.Background()
	c := goredis.NewClient(&goredis.Options{Addr: *addr, PoolSize: *conc + 4})
	defer c.Close()
	defer c.Del(ctx, *topic)
	if err := c.XGroupCreateMkStream(ctx, *topic, "bench", "$").Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			res, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "bench", Consumer: "c", Streams: []string{*topic, ">"}, Count: int64(readCount()), Block: time.Second}).Result()
			if err != nil {
				continue
			}
			for _, s := range res {
				ids := make([]string, 0, len(s.Messages))
				for _, m := range s.Messages {
					if v, ok := m.Values["data"].(string); ok {
						rec.got([]byte(v))
					}
					ids = append(ids, m.ID)
				}
				c.XAck(ctx, *topic, "bench", ids...)
			}
		}
	}()
	line, err := run(rec, func(ctx context.Context, bodies [][]byte) error {
		if len(bodies) == 1 {
			return c.XAdd(ctx, &goredis.XAddArgs{Stream: *topic, Values: []any{"data", bodies[0]}}).Err()
		}
		// One round trip for the lot, as a bulk publish through a sidecar.
		p := c.Pipeline()
		for _, b := range bodies {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: *topic, Values: []any{"data", b}})
		}
		_, err := p.Exec(ctx)
		return err
	})
	if err == nil {
		fmt.Println(line)
	}
	return err
}

// runNATS does the work of a JetStream subscriber: a stored publish, a
// durable pull consumer, an ack per message. With -bulk the publishes of
// a call go out together and the pulls ask for up to -bulk messages.
func runNATS(rec *recorder) error {
	nc, err := nats.Connect(*addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: *topic, Subjects: []string{*topic}, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	defer js.DeleteStream(ctx, *topic)
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return err
	}
	var opts []jetstream.PullConsumeOpt
	if *bulk > 0 {
		opts = append(opts, jetstream.PullMaxMessages(*bulk))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		rec.got(m.Data())
		_ = m.Ack()
	}, opts...)
	if err != nil {
		return err
	}
	defer cc.Stop()
	line, err := run(rec, func(ctx context.Context, bodies [][]byte) error {
		if len(bodies) == 1 {
			_, err := js.Publish(ctx, *topic, bodies[0])
			return err
		}
		acks := make([]jetstream.PubAckFuture, 0, len(bodies))
		for _, b := range bodies {
			// PublishAsync keeps b until it is sent: a copy, as the
			// caller reuses its buffers.
			f, err := js.PublishAsync(*topic, bytes.Clone(b))
			if err != nil {
				return err
			}
			acks = append(acks, f)
		}
		for _, f := range acks {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err == nil {
		fmt.Println(line)
	}
	return err
}
