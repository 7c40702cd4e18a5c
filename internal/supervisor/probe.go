package supervisor

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// probeEventKind is what a prober tells its replica.
type probeEventKind int

const (
	// probeReady: the readiness probe reached its success threshold.
	probeReady probeEventKind = iota
	// probeNotReady: the readiness probe reached its failure threshold.
	probeNotReady
	// probeStarted: the startup probe succeeded.
	probeStarted
	// probeFailed: a liveness or startup probe reached its failure
	// threshold; the replica must be restarted.
	probeFailed
)

type probeEvent struct {
	kind  probeEventKind
	probe ProbeType
	err   error
}

// checkFunc runs one probe attempt; nil means success.
type checkFunc func(ctx context.Context) error

// prober runs one probe of one process and reports threshold crossings.
type prober struct {
	probe   Probe
	check   checkFunc
	started time.Time // when the process started; InitialDelay counts from it
	events  chan<- probeEvent
}

// run probes after the initial delay and then every Period until ctx ends.
// Readiness keeps probing for the life of the process; liveness and startup
// probes return once they have reported their outcome.
func (p *prober) run(ctx context.Context) {
	t := time.NewTimer(max(time.Until(p.started.Add(p.probe.InitialDelay)), 0))
	defer t.Stop()
	ready := false
	reportedFailure := false
	successes, failures := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := p.attempt(ctx)
		if ctx.Err() != nil {
			// Cancelled mid-attempt: the process is going away, not failing.
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
		}

		var ev *probeEvent
		final := false
		switch p.probe.Type {
		case Readiness:
			switch {
			case !ready && successes >= p.probe.SuccessThreshold:
				ready, reportedFailure = true, false
				ev = &probeEvent{kind: probeReady}
			case failures >= p.probe.FailureThreshold && (ready || !reportedFailure):
				// Reported once while never ready too, so the status can say why.
				ready, reportedFailure = false, true
				ev = &probeEvent{kind: probeNotReady, err: err}
			}
		case Startup:
			switch {
			case err == nil:
				ev, final = &probeEvent{kind: probeStarted}, true
			case failures >= p.probe.FailureThreshold:
				ev, final = &probeEvent{kind: probeFailed, err: err}, true
			}
		case Liveness:
			if failures >= p.probe.FailureThreshold {
				ev, final = &probeEvent{kind: probeFailed, err: err}, true
			}
		}
		if ev != nil {
			ev.probe = p.probe.Type
			select {
			case p.events <- *ev:
			case <-ctx.Done():
				return
			}
			if final {
				return
			}
		}
		t.Reset(p.probe.Period)
	}
}

func (p *prober) attempt(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.probe.Timeout)
	defer cancel()
	return p.check(ctx)
}

// maxProbeBody is how much of a probe response is read, as in Kubernetes;
// reading some of it lets well-behaved servers finish the response.
const maxProbeBody = 10 << 10

// newProbeClient returns the HTTP client probes share. It keeps no idle
// connections, so nothing stays open between attempts, and it ignores the
// environment's proxy settings: probes go straight to the replica.
func newProbeClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       dial,
			DisableKeepAlives: true,
			// HTTPS probes do not verify certificates, as in Kubernetes:
			// replicas commonly serve self-signed ones.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}},
		},
		// A redirect's status already says the server is up; following it
		// could leave the replica, so the 3xx response is the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checker returns the check for probe p of a replica reachable at host:
// TCP probes connect with dial, HTTP probes go through client.
func checker(p Probe, host string, client *http.Client, dial func(ctx context.Context, network, addr string) (net.Conn, error)) checkFunc {
	if p.TCPSocket != nil {
		addr := net.JoinHostPort(host, strconv.Itoa(p.TCPSocket.Port))
		return func(ctx context.Context) error {
			conn, err := dial(ctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("tcp probe: %w", err)
			}
			return conn.Close()
		}
	}
	h := p.HTTPGet
	target := h.Scheme + "://" + net.JoinHostPort(host, strconv.Itoa(h.Port)) + h.Path
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return fmt.Errorf("http probe: %w", err)
		}
		for k, vs := range h.Headers {
			if http.CanonicalHeaderKey(k) == "Host" && len(vs) > 0 {
				req.Host = vs[0]
				continue
			}
			req.Header[http.CanonicalHeaderKey(k)] = append(req.Header[http.CanonicalHeaderKey(k)], vs...)
		}
		if req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", "cove-probe/1")
		}
		if req.Header.Get("Accept") == "" {
			req.Header.Set("Accept", "*/*")
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("http probe: %w", err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("http probe: GET %s: status %d", h.Path, resp.StatusCode)
		}
		return nil
	}
}
