package supervisor

import (
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		name string
		ran  []time.Duration
		want []time.Duration
	}{
		{
			name: "doubles up to the cap",
			ran:  []time.Duration{0, 0, 0, 0, 0, 0},
			want: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second},
		},
		{
			name: "a long run starts over",
			ran:  []time.Duration{0, 0, 0, time.Minute, 0},
			want: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 1 * time.Second, 2 * time.Second},
		},
		{
			name: "a run just short of the reset keeps growing",
			ran:  []time.Duration{0, 59 * time.Second},
			want: []time.Duration{1 * time.Second, 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{initial: time.Second, max: 10 * time.Second, reset: time.Minute}
			var got []time.Duration
			for _, ran := range tt.ran {
				got = append(got, b.next(ran))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLines(t *testing.T) {
	tests := []struct {
		name  string
		input string
		max   int
		want  []string
	}{
		{name: "lines", input: "a\nbb\n\nccc\n", max: 64, want: []string{"a", "bb", "", "ccc"}},
		{name: "crlf", input: "a\r\nb\r\n", max: 64, want: []string{"a", "b"}},
		{name: "last line without newline", input: "a\nb", max: 64, want: []string{"a", "b"}},
		{name: "long line split", input: "0123456789abcdefXYZ\nz\n", max: 8, want: []string{"01234567", "89abcdef", "XYZ", "z"}},
		{name: "split right before the newline adds no empty line", input: "01234567\nz\n", max: 8, want: []string{"01234567", "z"}},
		{name: "split keeps UTF-8 characters whole", input: "abcdef€x\n", max: 8, want: []string{"abcdef", "€x"}},
		{name: "bytes that are not UTF-8 are cut anywhere", input: "\xff\xff\xff\xff\xff\xff\xff\xff\xff\n", max: 8, want: []string{"\xff\xff\xff\xff\xff\xff\xff\xff", "\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []struct {
				name string
				r    func(io.Reader) io.Reader
			}{
				{"whole", func(r io.Reader) io.Reader { return r }},
				{"byte by byte", iotest.OneByteReader},
			} {
				var got []string
				err := readLines(mode.r(strings.NewReader(tt.input)), tt.max, func(b []byte) { got = append(got, string(b)) })
				if err != nil {
					t.Fatalf("%s: readLines: %v", mode.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: lines (-want +got):\n%s", mode.name, diff)
				}
			}
		})
	}
}

func TestReadLinesError(t *testing.T) {
	boom := errors.New("boom")
	var got []string
	err := readLines(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 64, func(b []byte) { got = append(got, string(b)) })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestRing(t *testing.T) {
	tests := []struct {
		name  string
		added int
		n     int
		want  []string
	}{
		{name: "empty", added: 0, n: 0, want: []string{}},
		{name: "all of a partly filled ring", added: 2, n: 0, want: []string{"0", "1"}},
		{name: "more than there are", added: 2, n: 5, want: []string{"0", "1"}},
		{name: "the newest after wrapping", added: 7, n: 2, want: []string{"5", "6"}},
		{name: "all after wrapping", added: 7, n: 0, want: []string{"3", "4", "5", "6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(4)
			for i := range tt.added {
				r.add(LogLine{Text: string(rune('0' + i))})
			}
			got := []string{}
			for _, l := range r.last(tt.n) {
				got = append(got, l.Text)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	ok := ReplicaSpec{Name: "r", Command: []string{"x"}}
	tests := []struct {
		name    string
		spec    ReplicaSpec
		wantErr []string // substrings of the error; none means valid
	}{
		{name: "minimal", spec: ok},
		{name: "no name or command", spec: ReplicaSpec{}, wantErr: []string{"name is empty", "command is empty"}},
		{name: "probe without action", spec: withProbes(ok, Probe{Type: Readiness}), wantErr: []string{"neither httpGet nor tcpSocket"}},
		{name: "probe with both actions", spec: withProbes(ok, Probe{Type: Readiness, HTTPGet: &HTTPGetAction{Port: 1}, TCPSocket: &TCPSocketAction{Port: 1}}), wantErr: []string{"both httpGet and tcpSocket"}},
		{name: "unknown probe type", spec: withProbes(ok, Probe{Type: "Sometimes", TCPSocket: &TCPSocketAction{Port: 1}}), wantErr: []string{`unknown type "Sometimes"`}},
		{name: "bad port", spec: withProbes(ok, Probe{Type: Liveness, TCPSocket: &TCPSocketAction{Port: 70000}}), wantErr: []string{"port 70000 out of range"}},
		{name: "bad scheme", spec: withProbes(ok, Probe{Type: Liveness, HTTPGet: &HTTPGetAction{Port: 80, Scheme: "FTP"}}), wantErr: []string{`unknown scheme "FTP"`}},
		{name: "liveness success threshold", spec: withProbes(ok, Probe{Type: Liveness, TCPSocket: &TCPSocketAction{Port: 1}, SuccessThreshold: 2}), wantErr: []string{"successThreshold must be 1"}},
		{name: "negative values", spec: withProbes(ok, Probe{Type: Readiness, TCPSocket: &TCPSocketAction{Port: 1}, Period: -1, FailureThreshold: -1}), wantErr: []string{"negative duration", "negative threshold"}},
		{
			name:    "two probes of a type",
			spec:    withProbes(ok, Probe{Type: Readiness, TCPSocket: &TCPSocketAction{Port: 1}}, Probe{Type: Readiness, TCPSocket: &TCPSocketAction{Port: 2}}),
			wantErr: []string{"probes[1]: a second Readiness probe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.spec.normalize()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("normalize: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("normalize succeeded, want an error with %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	got, err := ReplicaSpec{
		Name:    "r",
		Command: []string{"x"},
		Probes:  []Probe{{Type: Readiness, HTTPGet: &HTTPGetAction{Port: 8080, Path: "healthz?full=1", Scheme: "https"}}},
	}.normalize()
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	want := ReplicaSpec{
		Name:             "r",
		Command:          []string{"x"},
		Env:              []string{},
		Host:             "127.0.0.1",
		TerminationGrace: DefaultTerminationGrace,
		Probes: []Probe{{
			Type:             Readiness,
			HTTPGet:          &HTTPGetAction{Port: 8080, Path: "/healthz?full=1", Scheme: "https"},
			Period:           DefaultProbePeriod,
			Timeout:          DefaultProbeTimeout,
			SuccessThreshold: DefaultSuccessThreshold,
			FailureThreshold: DefaultFailureThreshold,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalized spec (-want +got):\n%s", diff)
	}
}

func withProbes(s ReplicaSpec, ps ...Probe) ReplicaSpec {
	s.Probes = ps
	return s
}

func TestLookPath(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	shDir := filepath.Dir(sh)
	tests := []struct {
		name    string
		prog    string
		env     []string
		want    string
		wantErr bool
	}{
		{name: "in the replica's PATH", prog: "sh", env: []string{"PATH=/nonexistent:" + shDir}, want: filepath.Join(shDir, "sh")},
		{name: "last PATH wins", prog: "sh", env: []string{"PATH=" + shDir, "PATH=/nonexistent"}, wantErr: true},
		{name: "relative PATH entries are skipped", prog: "sh", env: []string{"PATH=."}, wantErr: true},
		{name: "not in the replica's PATH", prog: "sh", env: []string{"PATH=/nonexistent"}, wantErr: true},
		{name: "paths are left alone", prog: "./bin/app", env: []string{"PATH=/nonexistent"}, want: "./bin/app"},
		{name: "no PATH falls back to cove's", prog: "sh", want: sh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.prog, tt.env)
			if tt.wantErr {
				if !errors.Is(err, exec.ErrNotFound) {
					t.Errorf("lookPath = %q, %v; want exec.ErrNotFound", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("lookPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
