package supervisor

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// LogLine is one line a replica wrote.
type LogLine struct {
	Time time.Time
	// Stream is "stdout" or "stderr" for what the process wrote, or the
	// name a caller of AddLine gave, such as "dapr" for its sidecar.
	Stream string
	Text   string
}

// readLines reads r and calls emit with each line, without its "\n" or
// "\r\n". A line longer than max bytes is emitted in pieces of at most max
// bytes, cut between UTF-8 characters, so memory stays bounded whatever the
// process writes. emit must not keep the slice. It returns nil at EOF, and
// also when a read deadline ends the reading.
func readLines(r io.Reader, max int, emit func([]byte)) error {
	buf := make([]byte, max)
	n := 0
	// cut is set when the last piece was emitted without a newline, so the
	// newline that ends that line does not produce an empty line of its own.
	cut := false
	for {
		k, err := r.Read(buf[n:])
		n += k
		start := 0
		for {
			i := bytes.IndexByte(buf[start:n], '\n')
			if i < 0 {
				break
			}
			line := bytes.TrimSuffix(buf[start:start+i], []byte("\r"))
			if len(line) > 0 || !cut {
				emit(line)
			}
			cut = false
			start += i + 1
		}
		if start == 0 && n == len(buf) {
			// A full buffer without a newline: emit what can be cut cleanly.
			start = utf8Cut(buf[:n])
			emit(buf[:start])
			cut = true
		}
		n = copy(buf, buf[start:n])
		if err != nil {
			if n > 0 {
				emit(bytes.TrimSuffix(buf[:n], []byte("\r")))
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// utf8Cut returns where to cut b so that a UTF-8 character split by the end
// of b moves to the next piece. Bytes that are not UTF-8 are cut anywhere.
func utf8Cut(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if i > 0 && !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// ring keeps the last lines of a replica's output.
type ring struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
}

func newRing(size int) *ring {
	return &ring{lines: make([]LogLine, size)}
}

func (r *ring) add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = l
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
}

// last returns up to n of the newest lines, oldest first; n <= 0 means all.
func (r *ring) last(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.lines)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]LogLine, 0, n)
	for i := r.next - n; i < r.next; i++ {
		out = append(out, r.lines[(i+len(r.lines))%len(r.lines)])
	}
	return out
}
