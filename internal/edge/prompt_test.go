package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// pieces is a body that arrives in parts: cur is what has arrived and is
// not read yet (what the upstream transport's Buffered reports), and each
// later part arrives when a read finds nothing.
type pieces struct {
	cur   string
	later []string
	log   *[]string
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.cur == "" {
		if len(p.later) == 0 {
			return 0, io.EOF
		}
		p.cur, p.later = p.later[0], p.later[1:]
	}
	n := copy(b, p.cur)
	*p.log = append(*p.log, "read "+p.cur[:n])
	p.cur = p.cur[n:]
	return n, nil
}

func (p *pieces) Close() error { return nil }

// flushLog is a response that logs its flushes.
type flushLog struct {
	*httptest.ResponseRecorder
	log *[]string
}

func (f flushLog) Flush() { *f.log = append(*f.log, "flush") }

// buffered is pieces with Buffered, as the upstream transport's bodies.
type buffered struct{ *pieces }

func (b buffered) Buffered() int { return len(b.cur) }

// A body of known length is flushed exactly when the next read would wait
// for the upstream: never for an answer that came whole, before the first
// read when only the headers came, and between parts that arrive apart.
// Where the transport cannot tell what it holds, only bytes already passed
// on are flushed before a read.
func TestPromptBody(t *testing.T) {
	tests := []struct {
		name    string
		first   string   // what came with the headers
		later   []string // what arrives later, part by part
		unknown bool
		want    []string
	}{
		{name: "whole", first: "hello", want: []string{"read hello"}},
		{name: "headers first", later: []string{"hello"}, want: []string{"flush", "read hello"}},
		{name: "two parts", first: "hel", later: []string{"lo"}, want: []string{"read hel", "flush", "read lo"}},
		{name: "three parts", later: []string{"he", "l", "lo"},
			want: []string{"flush", "read he", "flush", "read l", "flush", "read lo"}},
		{name: "unknown buffering, whole", first: "hello", unknown: true, want: []string{"read hello"}},
		{name: "unknown buffering, headers first", later: []string{"hello"}, unknown: true, want: []string{"read hello"}},
		{name: "unknown buffering, two parts", first: "hel", later: []string{"lo"}, unknown: true,
			want: []string{"read hel", "flush", "read lo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			p := &pieces{cur: tt.first, later: tt.later, log: &log}
			var rc io.ReadCloser = buffered{p}
			if tt.unknown {
				rc = p
			}
			b := newPromptBody(rc, flushLog{httptest.NewRecorder(), &log}, 5)
			got, err := io.ReadAll(b)
			if err != nil || string(got) != "hello" {
				t.Fatalf("body = %q, %v", got, err)
			}
			if strings.Join(log, ",") != strings.Join(tt.want, ",") {
				t.Errorf("events %q, want %q", log, tt.want)
			}
		})
	}
}

// An app that sends its headers and a declared length, then waits before
// the body, has its headers reach the client at once.
func TestHeadersBeforeBody(t *testing.T) {
	sawHeaders := make(chan struct{})
	up := replica(t, "slow", "slow-a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-sawHeaders:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "hello")
	})
	env := newEnv(t, Options{}, external("slow", up))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, env.public.URL, nil)
	req.Host = "slow.localhost"
	start := time.Now()
	res, err := newClient(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("headers took %s: they waited for the body", d)
	}
	close(sawHeaders)
	if b, err := io.ReadAll(res.Body); err != nil || string(b) != "hello" {
		t.Fatalf("body = %q, %v", b, err)
	}
}
