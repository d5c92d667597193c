package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of an SMTP server.
const (
	SMTPPlain    = "none"     // no TLS (a relay on the same host or network)
	SMTPStartTLS = "starttls" // STARTTLS, required: refused without it
	SMTPTLS      = "tls"      // TLS from the first byte (port 465)
)

// SMTP sends messages as e-mail.
type SMTP struct {
	Host string
	Port int
	From string
	// User and Password authenticate (PLAIN) when User is set; never over
	// a connection without TLS unless TLS is SMTPPlain.
	User     string
	Password string
	// TLS is SMTPPlain, SMTPStartTLS (default) or SMTPTLS.
	TLS string
	// TLSConfig verifies the server (nil: the system's roots, ServerName
	// Host).
	TLSConfig *tls.Config
	// Timeout bounds one message when ctx has no deadline (default 30s).
	Timeout time.Duration
	// Now dates the messages (default time.Now).
	Now func() time.Time
}

// Configured reports whether e-mail can be sent.
func (s *SMTP) Configured() bool { return s != nil && s.Host != "" && s.From != "" }

// Check reports what is wrong with the configuration, naming the setting.
func (s *SMTP) Check() error {
	if s.Host == "" {
		return nil // e-mail off
	}
	if s.From == "" {
		return errors.New("smtp-from is required with smtp-host")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("smtp-from %q is not an e-mail address", s.From)
	}
	if s.Port <= 0 || s.Port > 65535 {
		return fmt.Errorf("smtp-port %d is not a port", s.Port)
	}
	switch s.TLS {
	case SMTPPlain, SMTPStartTLS, SMTPTLS:
	default:
		return fmt.Errorf("smtp-tls %q is not one of none, starttls, tls", s.TLS)
	}
	return nil
}

// CheckAddress reports what is wrong with an e-mail address ("": nothing).
func CheckAddress(addr string) string {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return fmt.Sprintf("%q is not an e-mail address such as alice@example.com", addr)
	}
	return ""
}

// Send mails m to the address to.
func (s *SMTP) Send(ctx context.Context, to string, m Message) error {
	if !s.Configured() {
		return errors.New("notify: e-mail is not configured on this server (smtp-host, smtp-from)")
	}
	if err := m.check(); err != nil {
		return err
	}
	body, err := s.compose(to, m)
	if err != nil {
		return err
	}
	ctx, cancel := deadline(ctx, cmpOr(s.Timeout, 30*time.Second))
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("notify: smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closed when ctx ends, so a server that stops answering does not
	// hold the delivery.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *smtp.Client
	switch s.TLS {
	case SMTPTLS:
		c = smtp.NewClient(tls.Client(conn, s.tlsConfig()))
	case SMTPStartTLS, "":
		if c, err = smtp.NewClientStartTLS(conn, s.tlsConfig()); err != nil {
			conn.Close()
			return fmt.Errorf("notify: smtp starttls: %w", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := s.deliver(c, to, body); err != nil {
		return fmt.Errorf("notify: smtp: %w", err)
	}
	return nil
}

func (s *SMTP) deliver(c *smtp.Client, to string, body []byte) error {
	if err := c.Hello("mayfly"); err != nil {
		return err
	}
	if s.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.User, s.Password)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.From, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		c := s.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
}

// compose writes m as a plain-text e-mail: the text, then the links one
// a line.
func (s *SMTP) compose(to string, m Message) ([]byte, error) {
	var h mail.Header
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("notify: from %q: %w", s.From, err)
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("notify: to %q: %w", to, err)
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{from})
	h.SetAddressList("To", []*mail.Address{rcpt})
	h.SetSubject(cmpOr(m.Subject, firstLine(m.Text)))
	if m.ID != "" {
		h.SetMessageID(m.ID + "@mayfly")
	}
	h.Set("X-Mayfly-Event", m.Event)
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("notify: compose: %w", err)
	}
	var b strings.Builder
	b.WriteString(m.Text)
	b.WriteString("\n")
	if len(m.Links) > 0 {
		b.WriteString("\n")
		for _, l := range m.Links {
			fmt.Fprintf(&b, "%s: %s\n", l.Label, l.URL)
		}
	}
	if _, err := w.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
