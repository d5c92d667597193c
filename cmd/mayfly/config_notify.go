package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"time"

	"github.com/mayflyhq/mayfly/envs/notify"
)

// NotifyConfig configures the delivery of notices: the SMTP server that
// sends e-mail (unset host: no e-mail channels) and the bounds of a
// delivery.
type NotifyConfig struct {
	SMTPHost     string
	SMTPPort     int
	SMTPFrom     string
	SMTPUser     string
	SMTPPassword string
	SMTPTLS      string // none, starttls or tls
	// SMTPTLSConfig verifies the SMTP server (no flag; tests trust their
	// own certificate); nil: the system's roots.
	SMTPTLSConfig *tls.Config
	Attempts      int
	Timeout       time.Duration
}

func notifyFlags(fs *flag.FlagSet, c *NotifyConfig, env func(string, string) string, envInt func(string, string, int) int, envDur func(string, time.Duration) time.Duration) {
	fs.StringVar(&c.SMTPHost, "smtp-host", env("MAYFLY_SMTP_HOST", ""), "SMTP server that sends notices by e-mail; unset: no e-mail channels (MAYFLY_SMTP_HOST)")
	fs.IntVar(&c.SMTPPort, "smtp-port", envInt("MAYFLY_SMTP_PORT", "smtp-port", 587), "SMTP server's port (MAYFLY_SMTP_PORT)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", env("MAYFLY_SMTP_FROM", ""), "sender address of the e-mails, e.g. mayfly@example.com (MAYFLY_SMTP_FROM)")
	fs.StringVar(&c.SMTPUser, "smtp-user", env("MAYFLY_SMTP_USER", ""), "SMTP user (AUTH PLAIN); unset: no authentication (MAYFLY_SMTP_USER)")
	fs.StringVar(&c.SMTPPassword, "smtp-password", env("MAYFLY_SMTP_PASSWORD", ""), "SMTP password (MAYFLY_SMTP_PASSWORD; prefer the variable: a flag shows in ps)")
	fs.StringVar(&c.SMTPTLS, "smtp-tls", env("MAYFLY_SMTP_TLS", notify.SMTPStartTLS),
		"starttls (required), tls (from the first byte, port 465) or none (a trusted relay only) (MAYFLY_SMTP_TLS)")
	fs.IntVar(&c.Attempts, "notify-attempts", envInt("MAYFLY_NOTIFY_ATTEMPTS", "notify-attempts", 6),
		"attempts to deliver one notice to one channel, with backoff, before it is given up (MAYFLY_NOTIFY_ATTEMPTS)")
	fs.DurationVar(&c.Timeout, "notify-timeout", envDur("MAYFLY_NOTIFY_TIMEOUT", 10*time.Second), "longest one delivery attempt may take (MAYFLY_NOTIFY_TIMEOUT)")
}

// smtp is the e-mail sender (nil: none).
func (c NotifyConfig) smtp() *notify.SMTP {
	if c.SMTPHost == "" {
		return nil
	}
	return &notify.SMTP{Host: c.SMTPHost, Port: c.SMTPPort, From: c.SMTPFrom, User: c.SMTPUser, Password: c.SMTPPassword,
		TLS: c.SMTPTLS, TLSConfig: c.SMTPTLSConfig}
}

func (c NotifyConfig) validate() error {
	if s := c.smtp(); s != nil {
		if err := s.Check(); err != nil {
			return fmt.Errorf("--%v", err)
		}
		if s.User != "" && s.Password == "" {
			return fmt.Errorf("--smtp-user %q needs a password (MAYFLY_SMTP_PASSWORD)", s.User)
		}
	}
	if c.Attempts < 1 || c.Attempts > 100 {
		return fmt.Errorf("--notify-attempts %d: must be 1 to 100", c.Attempts)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("--notify-timeout %s: must be positive", c.Timeout)
	}
	return nil
}
