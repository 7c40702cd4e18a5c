package control

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// LogQuery selects the lines `cove logs` asks for.
type LogQuery struct {
	// App, Revision and Replica narrow the replicas, Container their
	// lines to one container's (daprd: the sidecar's); empty means all.
	App, Revision, Replica, Container string
	// Tail is how many of the last lines (of all selected replicas
	// together); zero means all that are kept.
	Tail int
	// Since keeps only lines written at or after it; zero keeps all.
	Since time.Time
}

// values encodes q as the management API's query parameters.
func (q LogQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"app": q.App, "revision": q.Revision, "replica": q.Replica, "container": q.Container} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Tail > 0 {
		v.Set("tail", strconv.Itoa(q.Tail))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	return v
}

// parseLogQuery reads a LogQuery from the API's query parameters.
func parseLogQuery(v url.Values) (LogQuery, error) {
	q := LogQuery{App: v.Get("app"), Revision: v.Get("revision"), Replica: v.Get("replica"), Container: v.Get("container")}
	if s := v.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, fmt.Errorf("tail %q is not a number of lines", s)
		}
		q.Tail = n
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("since %q is not an RFC 3339 time", s)
		}
		q.Since = t
	}
	return q, nil
}

// logReplica is a replica whose lines a query selects, with what tells
// the container of each line (see lineContainer).
type logReplica struct {
	name, main string
	lines      []string
}

// logReplicas lists the replicas q selects, or says why none match.
func (e *Env) logReplicas(q LogQuery) ([]logReplica, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []logReplica
	foundApp, foundRev := q.App == "", q.Revision == ""
	for _, a := range e.apps {
		if q.App != "" && a.name != q.App {
			continue
		}
		foundApp = true
		for _, rev := range a.revisions {
			if q.Revision != "" && rev.name != q.Revision {
				continue
			}
			foundRev = true
			for _, r := range rev.replicas {
				if q.Replica == "" || r.name == q.Replica {
					names = append(names, logReplica{r.name, r.mainContainer, r.lineContainers})
				}
			}
		}
	}
	switch {
	case !foundApp:
		return nil, fmt.Errorf("no app named %q; `cove ps` lists them", q.App)
	case !foundRev:
		return nil, fmt.Errorf("no revision named %q; `cove ps` lists them", q.Revision)
	case q.Replica != "" && len(names) == 0:
		return nil, fmt.Errorf("no replica named %q; `cove ps` lists them", q.Replica)
	}
	return names, nil
}

// Logs returns the lines the replicas q selects wrote, merged oldest
// first: the last q.Tail of them, since q.Since. Lines of replicas that
// have been stopped are gone with them.
func (e *Env) Logs(q LogQuery) ([]LogEntry, error) {
	names, err := e.logReplicas(q)
	if err != nil {
		return nil, err
	}
	var out []LogEntry
	for _, r := range names {
		for _, l := range e.sup.Logs(r.name, maxLogLines) {
			if l.Time.Before(q.Since) {
				continue
			}
			c := lineContainer(r.main, r.lines, l.Stream, l.Text)
			if q.Container != "" && c != q.Container {
				continue
			}
			out = append(out, LogEntry{Time: l.Time, Replica: r.name, Container: c, Stream: l.Stream, Text: l.Text})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if q.Tail > 0 && len(out) > q.Tail {
		out = out[len(out)-q.Tail:]
	}
	return out, nil
}

// maxLogLines is more than a replica keeps (supervisor.DefaultLogLines).
const maxLogLines = 1 << 20

// followPoll is how often a follower looks for new lines.
const followPoll = 200 * time.Millisecond

// FollowLogs checks q as Logs does, then yields what Logs(q) returns and
// every line the selected replicas write after it (replicas a reload
// starts included), until ctx ends, the environment stops or the caller
// stops.
func (e *Env) FollowLogs(ctx context.Context, q LogQuery) (iter.Seq[LogEntry], error) {
	if _, err := e.logReplicas(q); err != nil {
		return nil, err
	}
	return func(yield func(LogEntry) bool) { e.followLogs(ctx, q, yield) }, nil
}

// followLogs is FollowLogs's loop; send returns false to stop it.
func (e *Env) followLogs(ctx context.Context, q LogQuery, send func(LogEntry) bool) {
	first, err := e.Logs(q)
	if err != nil {
		return
	}
	// seen is, per replica, the time of its last line sent and how many
	// lines with that very time were sent.
	type mark struct {
		t time.Time
		n int
	}
	seen := map[string]mark{}
	emit := func(l LogEntry) bool {
		m := seen[l.Replica]
		if l.Time.Equal(m.t) {
			m.n++
		} else {
			m = mark{l.Time, 1}
		}
		seen[l.Replica] = m
		return send(l)
	}
	for _, l := range first {
		if !emit(l) {
			return
		}
	}
	// Lines before now that Tail left out are not new.
	start := time.Now()
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.stopCh:
			return
		case <-tick.C:
		}
		all := q
		all.Tail = 0
		lines, err := e.Logs(all)
		if err != nil {
			return // the replica or revision is gone
		}
		atMark := map[string]int{}
		for _, l := range lines {
			m, ok := seen[l.Replica]
			switch {
			case !ok && l.Time.Before(start):
				continue
			case ok && l.Time.Before(m.t):
				continue
			case ok && l.Time.Equal(m.t):
				atMark[l.Replica]++
				if atMark[l.Replica] <= m.n {
					continue
				}
			}
			if !emit(l) {
				return
			}
		}
	}
}

// Logs fetches the lines q selects, oldest first.
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]LogEntry, error) {
	var logs []LogEntry
	err := c.do(ctx, http.MethodGet, "/v1/logs?"+q.values().Encode(), &logs)
	return logs, err
}

// FollowLogs calls fn with the lines q selects, then with each new one as
// the replicas write it, until ctx ends or the environment stops.
func (c *Client) FollowLogs(ctx context.Context, q LogQuery, fn func(LogEntry)) error {
	v := q.values()
	v.Set("follow", "1")
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/logs?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return ErrNotRunning{Socket: c.where}
	}
	defer resp.Body.Close()
	if err := apiErrorOf(resp); err != nil {
		return err
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var l LogEntry
		if err := dec.Decode(&l); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return nil // the environment stopped
		}
		fn(l)
	}
}
