// Package smtp is the bindings.smtp output binding, as Dapr's: create
// sends the data as an HTML mail, with the component's addresses, subject
// and priority unless the request's metadata gives its own. Addresses are
// separated by ';'. A server that offers STARTTLS is spoken to over TLS
// (port 465 over TLS from the start); user and password log in when the
// server offers AUTH.
package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
)

// Type is the component type this package registers.
const Type = "bindings.smtp"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ bindings.Output = (*Binding)(nil)

// dialWait bounds connecting to the server.
const dialWait = 10 * time.Second

// mail is what one mail is sent with: the component's metadata, the
// request's over it.
type mail struct {
	EmailFrom string `metadata:"emailFrom"`
	EmailTo   string `metadata:"emailTo"`
	EmailCC   string `metadata:"emailCC"`
	EmailBCC  string `metadata:"emailBCC"`
	Subject   string `metadata:"subject"`
	Priority  string `metadata:"priority"`
}

type metadata struct {
	bindings.RuntimeMetadata
	mail

	Host          string `metadata:"host"`
	Port          int    `metadata:"port"`
	User          string `metadata:"user"`
	Password      string `metadata:"password"`
	SkipTLSVerify bool   `metadata:"skipTLSVerify"`
}

// Binding is the SMTP binding.
type Binding struct {
	md metadata
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{} }

// Init reads the metadata; the server is reached at each create.
func (b *Binding) Init(_ context.Context, md components.Metadata) error {
	var m metadata
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	errs := []error{err}
	if m.Host == "" || m.Port == 0 {
		errs = append(errs, errors.New("metadata host and port are required"))
	}
	if (m.User == "") != (m.Password == "") {
		errs = append(errs, errors.New("metadata user and password must be given together"))
	}
	if _, err := priority(m.Priority); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	b.md = m
	return nil
}

// priority reads Dapr's priority: 1 (highest) to 5 (lowest), default 3.
func priority(v string) (int, error) {
	if v == "" {
		return 3, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 5 {
		return 0, fmt.Errorf("metadata priority %q: a number from 1 (highest) to 5 (lowest)", v)
	}
	return n, nil
}

// Operations is Dapr's: create.
func (b *Binding) Operations() []string { return []string{bindings.OperationCreate} }

// Invoke sends one mail. The data is its HTML body; a JSON string is
// unquoted first, as Dapr does.
func (b *Binding) Invoke(ctx context.Context, req *bindings.Request) (*bindings.Response, error) {
	m := b.md.mail // a copy: the request's metadata is for this mail only
	for k, set := range map[string]*string{"emailFrom": &m.EmailFrom, "emailTo": &m.EmailTo, "emailCC": &m.EmailCC, "emailBCC": &m.EmailBCC, "subject": &m.Subject, "priority": &m.Priority} {
		if v := req.Metadata[k]; v != "" {
			*set = v
		}
	}
	prio, err := priority(m.Priority)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", bindings.ErrInvalid, err)
	}
	for name, v := range map[string]string{"emailFrom": m.EmailFrom, "emailTo": m.EmailTo, "subject": m.Subject} {
		if v == "" {
			return nil, fmt.Errorf("%w: smtp binding: %s is given neither in the component's nor in the request's metadata", bindings.ErrInvalid, name)
		}
	}
	body := string(req.Data)
	if s, err := strconv.Unquote(body); err == nil {
		body = s
	}
	to, cc, bcc := addresses(m.EmailTo), addresses(m.EmailCC), addresses(m.EmailBCC)
	msg, err := message(m, prio, to, cc, body)
	if err != nil {
		return nil, err
	}
	if err := b.send(ctx, m.EmailFrom, append(append(to, cc...), bcc...), msg); err != nil {
		return nil, fmt.Errorf("error from smtp binding, sending email failed: %w", err)
	}
	return nil, nil
}

func addresses(list string) []string {
	var out []string
	for a := range strings.SplitSeq(list, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// message is the mail as sent: headers (Bcc left out) and a
// quoted-printable HTML body.
func message(m mail, prio int, to, cc []string, body string) ([]byte, error) {
	var buf bytes.Buffer
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	header := func(k, v string) {
		fmt.Fprintf(&buf, "%s: %s\r\n", k, v)
	}
	for _, h := range [][2]string{{"From", m.EmailFrom}, {"Subject", m.Subject}} {
		if strings.ContainsAny(h[1], "\r\n") {
			return nil, fmt.Errorf("%w: %s holds a line break", bindings.ErrInvalid, strings.ToLower(h[0]))
		}
	}
	for _, a := range append(append([]string{}, to...), cc...) {
		if strings.ContainsAny(a, "\r\n") {
			return nil, fmt.Errorf("%w: address %q holds a line break", bindings.ErrInvalid, a)
		}
	}
	header("From", m.EmailFrom)
	header("To", strings.Join(to, ", "))
	if len(cc) > 0 {
		header("Cc", strings.Join(cc, ", "))
	}
	header("Subject", mime.QEncoding.Encode("UTF-8", m.Subject))
	header("X-Priority", strconv.Itoa(prio))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@cove>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/html; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	buf.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&buf)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// send delivers msg to the server: TLS from the start on port 465,
// STARTTLS when offered, AUTH PLAIN with user and password when offered.
func (b *Binding) send(ctx context.Context, from string, rcpt []string, msg []byte) error {
	addr := net.JoinHostPort(b.md.Host, strconv.Itoa(b.md.Port))
	tlsCfg := &tls.Config{ServerName: b.md.Host, InsecureSkipVerify: b.md.SkipTLSVerify} //nolint:gosec // the user's choice, as in Dapr
	d := &net.Dialer{Timeout: dialWait}
	var conn net.Conn
	var err error
	if b.md.Port == 465 {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
	}
	c, err := smtp.NewClient(conn, b.md.Host)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && b.md.Port != 465 {
		if err := c.StartTLS(tlsCfg); err != nil {
			return err
		}
	}
	if b.md.User != "" {
		if ok, _ := c.Extension("AUTH"); ok {
			if err := c.Auth(smtp.PlainAuth("", b.md.User, b.md.Password, b.md.Host)); err != nil {
				return err
			}
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range rcpt {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// Close has nothing to release: each create has its own connection.
func (b *Binding) Close() error { return nil }
