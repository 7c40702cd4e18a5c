package supervisor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seenEvent is a probe event as the tests compare it: its kind and when it
// came, counted from the process start.
type seenEvent struct {
	Kind probeEventKind
	At   time.Duration
}

func TestProberThresholds(t *testing.T) {
	const ok, fail, hang = "ok", "fail", "hang"
	tests := []struct {
		name    string
		probe   Probe
		results []string // one per attempt; the last repeats
		want    []seenEvent
	}{
		{
			name:    "readiness runs at once and turns ready on the first success",
			probe:   Probe{Type: Readiness, Period: 10 * time.Second},
			results: []string{ok},
			want:    []seenEvent{{probeReady, 0}},
		},
		{
			name:    "readiness reports never-ready once, then ready, then not ready after the threshold",
			probe:   Probe{Type: Readiness, Period: 10 * time.Second},
			results: []string{fail, fail, fail, fail, ok, fail, fail, ok, fail, fail, fail, fail},
			want:    []seenEvent{{probeNotReady, 20 * time.Second}, {probeReady, 40 * time.Second}, {probeNotReady, 100 * time.Second}},
		},
		{
			name:    "readiness success threshold counts consecutive successes",
			probe:   Probe{Type: Readiness, Period: 10 * time.Second, SuccessThreshold: 2, FailureThreshold: 5},
			results: []string{ok, fail, ok, ok},
			want:    []seenEvent{{probeReady, 30 * time.Second}},
		},
		{
			name:    "liveness waits for its initial delay and fails after the threshold",
			probe:   Probe{Type: Liveness, Period: 10 * time.Second, InitialDelay: 5 * time.Second},
			results: []string{ok, fail, ok, fail, fail, fail},
			want:    []seenEvent{{probeFailed, 55 * time.Second}},
		},
		{
			name:    "startup succeeds once and stops",
			probe:   Probe{Type: Startup, Period: time.Second, FailureThreshold: 10},
			results: []string{fail, fail, ok, fail},
			want:    []seenEvent{{probeStarted, 2 * time.Second}},
		},
		{
			name:    "startup fails after the threshold",
			probe:   Probe{Type: Startup, Period: time.Second, FailureThreshold: 2},
			results: []string{fail},
			want:    []seenEvent{{probeFailed, time.Second}},
		},
		{
			name:    "an attempt that outlasts the timeout fails",
			probe:   Probe{Type: Liveness, Period: 10 * time.Second, Timeout: 2 * time.Second, FailureThreshold: 1},
			results: []string{hang},
			want:    []seenEvent{{probeFailed, 2 * time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, err := tt.probe.withAction().normalize()
				if err != nil {
					t.Fatal(err)
				}
				attempt := 0
				check := func(ctx context.Context) error {
					r := tt.results[min(attempt, len(tt.results)-1)]
					attempt++
					switch r {
					case ok:
						return nil
					case hang:
						<-ctx.Done()
						return ctx.Err()
					}
					return errors.New("down")
				}
				ctx, cancel := context.WithCancel(t.Context())
				events := make(chan probeEvent)
				start := time.Now()
				pr := &prober{probe: p, check: check, started: start, events: events}
				var wg sync.WaitGroup
				wg.Go(func() { pr.run(ctx) })

				var got []seenEvent
				horizon := time.NewTimer(5 * time.Minute)
			collect:
				for {
					select {
					case ev := <-events:
						if ev.probe != p.Type {
							t.Errorf("event from a %s probe, want %s", ev.probe, p.Type)
						}
						if (ev.kind == probeNotReady || ev.kind == probeFailed) && ev.err == nil {
							t.Errorf("failure event without its error")
						}
						got = append(got, seenEvent{ev.kind, time.Since(start)})
					case <-horizon.C:
						break collect
					}
				}
				cancel()
				wg.Wait()
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// withAction gives a probe built for the timing tests an action to pass
// validation.
func (p Probe) withAction() Probe {
	p.TCPSocket = &TCPSocketAction{Port: 1}
	return p
}

func TestHTTPCheck(t *testing.T) {
	var (
		mu     sync.Mutex
		status int
		last   *http.Request
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		last = r
		if status >= 300 && status < 400 {
			// Somewhere nothing listens: following it would fail.
			w.Header().Set("Location", "http://127.0.0.1:1/")
		}
		w.WriteHeader(status)
	})
	plain := httptest.NewServer(handler)
	defer plain.Close()
	secure := httptest.NewTLSServer(handler)
	defer secure.Close()

	tests := []struct {
		name   string
		server *httptest.Server
		scheme string
		status int
		wantOK bool
	}{
		{name: "200", server: plain, status: 200, wantOK: true},
		{name: "204", server: plain, status: 204, wantOK: true},
		{name: "302 is not followed", server: plain, status: 302, wantOK: true},
		{name: "399", server: plain, status: 399, wantOK: true},
		{name: "400", server: plain, status: 400},
		{name: "404", server: plain, status: 404},
		{name: "500", server: plain, status: 500},
		{name: "503", server: plain, status: 503},
		{name: "https with a self-signed certificate", server: secure, scheme: "HTTPS", status: 200, wantOK: true},
		{name: "https failing", server: secure, scheme: "HTTPS", status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			status = tt.status
			mu.Unlock()
			host, port := splitHostPort(t, tt.server.Listener.Addr().String())
			p, err := Probe{Type: Readiness, HTTPGet: &HTTPGetAction{
				Port:    port,
				Path:    "/healthz?deep=1",
				Scheme:  tt.scheme,
				Headers: http.Header{"X-Probe": {"yes"}, "Host": {"app.internal"}},
			}}.normalize()
			if err != nil {
				t.Fatal(err)
			}
			err = checker(p, host, newProbeClient(nil), (&net.Dialer{}).DialContext)(t.Context())
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Fatalf("check = %v, want success %v", err, tt.wantOK)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tt.status)) {
				t.Errorf("error %q does not name the status %d", err, tt.status)
			}
			mu.Lock()
			defer mu.Unlock()
			got := map[string]string{
				"uri": last.RequestURI, "host": last.Host, "X-Probe": last.Header.Get("X-Probe"),
				"User-Agent": last.Header.Get("User-Agent"),
			}
			want := map[string]string{"uri": "/healthz?deep=1", "host": "app.internal", "X-Probe": "yes", "User-Agent": "cove-probe/1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port := splitHostPort(t, ln.Addr().String())
	p := Probe{Type: Readiness, TCPSocket: &TCPSocketAction{Port: port}, Timeout: time.Second}
	check := checker(p, host, nil, (&net.Dialer{}).DialContext)
	if err := check(t.Context()); err != nil {
		t.Errorf("check with a listener: %v", err)
	}
	ln.Close()
	if err := check(t.Context()); err == nil {
		t.Errorf("check without a listener succeeded")
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
