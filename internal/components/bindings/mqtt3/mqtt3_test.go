package mqtt3_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/mqtt3"
	"github.com/cove-env/cove/internal/components/componenttest"
	stateconformance "github.com/cove-env/cove/internal/components/state/conformance"
)

const addr = "127.0.0.1:1883"

// open returns a binding on a topic and consumer id of its own.
func open(t *testing.T, props map[string]string) (*mqtt3.Binding, string) {
	t.Helper()
	stateconformance.NeedService(t, "Mosquitto", addr)
	u := componenttest.Unique()
	all := map[string]string{"url": "tcp://" + addr, "topic": "cove/test/" + u, "consumerID": u}
	for k, v := range props {
		all[k] = v
	}
	b, err := componenttest.Open[*mqtt3.Binding](t, mqtt3.Type, all)
	if err != nil {
		t.Fatal(err)
	}
	return b, all["topic"]
}

func read(t *testing.T, ctx context.Context, b *mqtt3.Binding, h bindings.Handler) {
	t.Helper()
	if err := b.Read(ctx, h); err != nil {
		t.Fatal(err)
	}
}

func into(ch chan *bindings.Event) bindings.Handler {
	return func(_ context.Context, ev *bindings.Event) ([]byte, error) {
		ch <- ev
		return nil, nil
	}
}

func create(t *testing.T, b *mqtt3.Binding, data string, md map[string]string) {
	t.Helper()
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Data: []byte(data), Metadata: md}); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, ch chan *bindings.Event) *bindings.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("nothing read within 5s")
		return nil
	}
}

// TestCreateAndRead: create publishes to the binding's topic (or the
// request's topic); a reader gets the data with the topic; a retained
// message reaches a reader that comes later; the kept session of a reader
// that went away gets what was published meanwhile when the next takes
// its place.
func TestCreateAndRead(t *testing.T) {
	b, topic := open(t, nil)
	create(t, b, "kept", map[string]string{"retain": "true"})
	t.Cleanup(func() { // clears the retained message
		_, _ = b.Invoke(context.Background(), &bindings.Request{Operation: "create", Metadata: map[string]string{"retain": "true"}})
	})
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan *bindings.Event, 10)
	read(t, ctx, b, into(ch))
	if ev := next(t, ch); string(ev.Data) != "kept" || ev.Metadata["topic"] != topic {
		t.Errorf("read %q from %q; want the retained message from %s", ev.Data, ev.Metadata["topic"], topic)
	}
	create(t, b, "hello", nil)
	if ev := next(t, ch); string(ev.Data) != "hello" {
		t.Errorf("read %q; want hello", ev.Data)
	}
	cancel()
	time.Sleep(300 * time.Millisecond)
	create(t, b, "meanwhile", nil)
	select {
	case ev := <-ch:
		t.Fatalf("a reader whose context ended read %q", ev.Data)
	case <-time.After(300 * time.Millisecond):
	}
	ch2 := make(chan *bindings.Event, 10)
	read(t, t.Context(), b, into(ch2))
	got := []string{string(next(t, ch2).Data)}
	if got[0] == "kept" {
		got = append(got, string(next(t, ch2).Data))
	}
	if got[len(got)-1] != "meanwhile" {
		t.Errorf("the next reader read %v; want what was published meanwhile, from the kept session", got)
	}
	b2, _ := open(t, nil)
	other := "cove/test/" + componenttest.Unique()
	ch3 := make(chan *bindings.Event, 10)
	o, _ := open(t, map[string]string{"topic": other})
	read(t, t.Context(), o, into(ch3))
	create(t, b2, "elsewhere", map[string]string{"topic": other})
	if ev := next(t, ch3); string(ev.Data) != "elsewhere" {
		t.Errorf("read %q; want the message created with the topic metadata", ev.Data)
	}
}

// TestAppFailureRetried: a message the app fails is handed to it again
// after Dapr's pause, until it takes it, within backOffMaxRetries.
func TestAppFailureRetried(t *testing.T) {
	b, _ := open(t, map[string]string{"backOffMaxRetries": "2", "cleanSession": "true"})
	var calls atomic.Int32
	done := make(chan struct{})
	read(t, t.Context(), b, func(context.Context, *bindings.Event) ([]byte, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("the app failed it")
		}
		close(done)
		return nil, nil
	})
	create(t, b, "x", nil)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d calls in 10s; want a second after the app failed the first", calls.Load())
	}
}

// TestBadMetadata: the errors name the item.
func TestBadMetadata(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"url", "", "metadata url is required"},
		{"url", "nonsense", "metadata url"},
		{"topic", "", "metadata topic is required"},
		{"consumerID", "", "metadata consumerID is required"},
		{"caCert", "not a certificate", "metadata caCert: no PEM certificate"},
		{"clientCert", "-----BEGIN CERTIFICATE-----", "metadata clientCert and clientKey must be given together"},
	} {
		all := map[string]string{"url": "tcp://" + addr, "topic": "t", "consumerID": "c"}
		all[c.key] = c.value
		_, err := componenttest.Open[*mqtt3.Binding](t, mqtt3.Type, all)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: %v; want %q", c.key, c.value, err, c.want)
		}
	}
}
