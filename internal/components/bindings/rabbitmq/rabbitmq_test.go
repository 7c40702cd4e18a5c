package rabbitmq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/rabbitmq"
	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const (
	addr = "127.0.0.1:5672"
	uri  = "amqp://guest:guest@" + addr
)

// open returns a binding on a queue of its own, deleted when t ends.
func open(t *testing.T, props map[string]string) (*rabbitmq.Binding, string) {
	t.Helper()
	stateconformance.NeedService(t, "RabbitMQ", addr)
	queue := strings.TrimSuffix(componenttest.Unique(), "_")
	t.Cleanup(func() {
		conn, err := amqp.Dial(uri)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer ch.Close()
		if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
			t.Errorf("delete queue %s: %v", queue, err)
		}
	})
	all := map[string]string{"host": uri, "queueName": queue, "durable": "true"}
	for k, v := range props {
		all[k] = v
	}
	b, err := componenttest.Open[*rabbitmq.Binding](t, rabbitmq.Type, all)
	if err != nil {
		t.Fatal(err)
	}
	return b, queue
}

type got struct {
	data string
	md   map[string]string
}

// reader reads b into a channel; fail decides which events the "app"
// fails.
func reader(t *testing.T, ctx context.Context, b *rabbitmq.Binding, fail func(string) bool) chan got {
	t.Helper()
	out := make(chan got, 100)
	err := b.Read(ctx, func(_ context.Context, ev *bindings.Event) ([]byte, error) {
		out <- got{string(ev.Data), ev.Metadata}
		if fail != nil && fail(string(ev.Data)) {
			return nil, errors.New("the app failed it")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func create(t *testing.T, b *rabbitmq.Binding, data string, md map[string]string) {
	t.Helper()
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Data: []byte(data), Metadata: md}); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, ch chan got) got {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-time.After(5 * time.Second):
		t.Fatal("nothing read within 5s")
		return got{}
	}
}

// TestCreateAndRead: create publishes to the queue with the request's
// metadata as headers; a reader gets the data and the headers; a message
// the app fails comes back; after the reader's context ends, what is
// created waits in the queue for the next reader.
func TestCreateAndRead(t *testing.T) {
	b, _ := open(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	failed := 0
	ch := reader(t, ctx, b, func(d string) bool {
		mu.Lock()
		defer mu.Unlock()
		if d == "flaky" && failed == 0 {
			failed++
			return true
		}
		return false
	})
	create(t, b, "hello", map[string]string{"source": "test"})
	if g := next(t, ch); g.data != "hello" || g.md["source"] != "test" {
		t.Errorf("read %+v; want hello with source=test", g)
	}
	create(t, b, "flaky", nil)
	if g := next(t, ch); g.data != "flaky" {
		t.Fatalf("read %q", g.data)
	}
	if g := next(t, ch); g.data != "flaky" {
		t.Errorf("after the app failed it, read %q; want flaky again", g.data)
	}
	cancel()
	time.Sleep(200 * time.Millisecond)
	create(t, b, "later", nil)
	select {
	case g := <-ch:
		t.Fatalf("a reader whose context ended read %q", g.data)
	case <-time.After(300 * time.Millisecond):
	}
	if g := next(t, reader(t, t.Context(), b, nil)); g.data != "later" {
		t.Errorf("the next reader read %q; want later", g.data)
	}
}

// TestReadersShareTheQueue: two readers (two replicas) each get part of
// the messages, every message once.
func TestReadersShareTheQueue(t *testing.T) {
	b, _ := open(t, map[string]string{"prefetchCount": "1"})
	var mu sync.Mutex
	per := [2]int{}
	for i := range 2 {
		if err := b.Read(t.Context(), func(context.Context, *bindings.Event) ([]byte, error) {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			per[i]++
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	for range 40 {
		create(t, b, "m", nil)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := per[0] + per[1]
		mu.Unlock()
		if n >= 40 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if per[0]+per[1] != 40 || per[0] == 0 || per[1] == 0 {
		t.Errorf("readers got %v of 40; want all, shared", per)
	}
}

// TestQueueOptions: ttlInSeconds on a request expires its message;
// maxPriority makes a priority queue, so a later message of higher
// priority is read first; contentType sets the message's.
func TestQueueOptions(t *testing.T) {
	b, queue := open(t, map[string]string{"maxPriority": "5"})
	create(t, b, "expires", map[string]string{"ttlInSeconds": "1"})
	create(t, b, "low", map[string]string{"priority": "1", "contentType": "application/json"})
	create(t, b, "high", map[string]string{"priority": "5"})
	time.Sleep(1500 * time.Millisecond)
	conn, err := amqp.Dial(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var order []string
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		order = append(order, string(d.Body))
		if string(d.Body) == "low" && d.ContentType != "application/json" {
			t.Errorf("content type %q; want application/json", d.ContentType)
		}
	}
	if strings.Join(order, ",") != "high,low" {
		t.Errorf("queue held %v; want high before low and the expired message gone", order)
	}
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Metadata: map[string]string{"ttlInSeconds": "soon"}}); !errors.Is(err, bindings.ErrInvalid) {
		t.Errorf("a ttlInSeconds that is no number: %v; want ErrInvalid", err)
	}
}

// TestBadMetadata: the errors name the item.
func TestBadMetadata(t *testing.T) {
	for props, want := range map[[2]string]string{
		{"host", ""}:            "metadata host is required",
		{"queueName", ""}:       "metadata queueName is required",
		{"maxPriority", "lots"}: "metadata maxPriority",
		{"ttlInSeconds", "-1"}:  "ttlInSeconds",
		{"host", "http://x:80"}: "metadata host",
	} {
		all := map[string]string{"host": uri, "queueName": "q"}
		all[props[0]] = props[1]
		_, err := componenttest.Open[*rabbitmq.Binding](t, rabbitmq.Type, all)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%q: %v; want %q", props[0], props[1], err, want)
		}
	}
}
