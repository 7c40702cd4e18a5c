package smtp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cove-env/cove/internal/components/bindings"
	"github.com/cove-env/cove/internal/components/bindings/smtp"
	"github.com/cove-env/cove/internal/components/componenttest"
)

// sink is a real SMTP server (Python's aiosmtpd) that keeps every mail it
// gets in a maildir, its envelope's recipients in X-RcptTos.
type sink struct {
	port int
	dir  string
	log  bytes.Buffer // its output, for failures
}

// text is every mail received so far, in the order received.
func (s *sink) text() string {
	files, _ := filepath.Glob(filepath.Join(s.dir, "new", "*"))
	type mail struct {
		at   time.Time
		data []byte
	}
	var mails []mail
	for _, f := range files {
		st, err1 := os.Stat(f)
		data, err2 := os.ReadFile(f)
		if err1 == nil && err2 == nil {
			mails = append(mails, mail{st.ModTime(), data})
		}
	}
	sort.Slice(mails, func(i, j int) bool { return mails[i].at.Before(mails[j].at) })
	var b strings.Builder
	for _, m := range mails {
		b.Write(m.data)
		b.WriteString("\n")
	}
	return b.String()
}

// startSink starts aiosmtpd on a free port; without it the test skips,
// or fails under COVE_REQUIRE_SERVICES.
func startSink(t *testing.T) *sink {
	t.Helper()
	bin, err := exec.LookPath("aiosmtpd")
	if err != nil {
		msg := "aiosmtpd is not installed (apt-get install python3-aiosmtpd)"
		if os.Getenv("COVE_REQUIRE_SERVICES") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &sink{port: port, dir: t.TempDir()}
	for _, d := range []string{"tmp", "new", "cur"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-n", "-l", "127.0.0.1:"+strconv.Itoa(port), "-c", "aiosmtpd.handlers.Mailbox", s.dir)
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			r := bufio.NewReader(c)
			line, _ := r.ReadString('\n')
			_ = c.Close()
			if strings.HasPrefix(line, "220") {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SMTP sink did not start:\n%s", s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *sink) wait(t *testing.T, want string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if txt := s.text(); strings.Contains(txt, want) {
			return txt
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not get %q:\n%s", want, s.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSendsMail: create sends the data as an HTML mail to the sink with the
// component's addresses, subject and priority, the request's metadata over
// them for that mail only; Bcc receives it without a header.
func TestSendsMail(t *testing.T) {
	s := startSink(t)
	b, err := componenttest.Open[*smtp.Binding](t, smtp.Type, map[string]string{
		"host": "127.0.0.1", "port": strconv.Itoa(s.port), "emailFrom": "app@cove.test",
		"emailTo": "ops@cove.test;dev@cove.test", "emailBCC": "audit@cove.test", "subject": "Daily report", "priority": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Data: []byte(`"<h1>All good</h1>"`)}); err != nil {
		t.Fatal(err)
	}
	txt := s.wait(t, "All good")
	for _, want := range []string{"From: app@cove.test", "To: ops@cove.test, dev@cove.test", "Subject: Daily report", "X-Priority: 1",
		"Content-Type: text/html; charset=UTF-8", "<h1>All good</h1>", "X-RcptTo: ops@cove.test, dev@cove.test, audit@cove.test"} {
		if !strings.Contains(txt, want) {
			t.Errorf("the mail does not hold %q:\n%s", want, txt)
		}
	}
	if strings.Contains(txt, "Bcc:") {
		t.Errorf("the mail names its Bcc:\n%s", txt)
	}
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Data: []byte("second"),
		Metadata: map[string]string{"subject": "Überblick", "emailTo": "one@cove.test", "emailCC": "two@cove.test"}}); err != nil {
		t.Fatal(err)
	}
	txt = s.wait(t, "second")
	txt = txt[strings.LastIndex(txt, "\nFrom: app@cove.test"):]
	for _, want := range []string{"To: one@cove.test", "Cc: two@cove.test", "Subject: =?UTF-8?q?=C3=9Cberblick?="} {
		if !strings.Contains(txt, want) {
			t.Errorf("the second mail does not hold %q:\n%s", want, txt)
		}
	}
	if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Data: []byte("third")}); err != nil {
		t.Fatal(err)
	}
	txt = s.wait(t, "third")
	if txt = txt[strings.LastIndex(txt, "\nFrom: app@cove.test"):]; !strings.Contains(txt, "Subject: Daily report") {
		t.Errorf("a request's subject stayed for the next mail:\n%s", txt)
	}
}

// TestRefusals: a mail without an address or subject, or with a bad
// priority, is the caller's mistake; bad metadata names the item; a server
// that is not there is an error.
func TestRefusals(t *testing.T) {
	b, err := componenttest.Open[*smtp.Binding](t, smtp.Type, map[string]string{"host": "127.0.0.1", "port": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range []map[string]string{
		{"emailTo": "a@b", "subject": "s"},
		{"emailFrom": "a@b", "subject": "s"},
		{"emailFrom": "a@b", "emailTo": "a@b"},
		{"emailFrom": "a@b", "emailTo": "a@b", "subject": "s", "priority": "9"},
		{"emailFrom": "a@b", "emailTo": "a@b", "subject": "s\r\nBcc: x@y"},
	} {
		if _, err := b.Invoke(t.Context(), &bindings.Request{Operation: "create", Metadata: md}); !errors.Is(err, bindings.ErrInvalid) {
			t.Errorf("%v: %v; want ErrInvalid", md, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := b.Invoke(ctx, &bindings.Request{Operation: "create", Metadata: map[string]string{"emailFrom": "a@b", "emailTo": "a@b", "subject": "s"}}); err == nil || errors.Is(err, bindings.ErrInvalid) {
		t.Errorf("no server: %v; want a sending error", err)
	}
	for props, want := range map[[2]string]string{
		{"host", ""}:      "host and port are required",
		{"user", "u"}:     "user and password must be given together",
		{"priority", "0"}: "metadata priority",
	} {
		all := map[string]string{"host": "127.0.0.1", "port": "25"}
		all[props[0]] = props[1]
		if _, err := componenttest.Open[*smtp.Binding](t, smtp.Type, all); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%q: %v; want %q", props[0], props[1], err, want)
		}
	}
}
