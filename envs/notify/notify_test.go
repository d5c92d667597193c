package notify_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
)

func sample() notify.Message {
	return notify.Message{ID: "msg_1", Event: "environment.ready", Subject: "Environment shop-1 is ready",
		Text: "shop-1 (demo-shop 1.2.0) is ready <now>", At: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC),
		Environment: &notify.Environment{ID: "env1", Name: "shop-1", Template: "demo-shop", Version: "1.2.0", Status: "ready",
			URL: "https://mayfly.example/environments/env1"},
		Links: []notify.Link{{Label: "Open in Mayfly", URL: "https://mayfly.example/environments/env1"}}}
}

// The webhook's body is Mayfly's JSON and its signature verifies with the
// Standard Webhooks library's verifier; another secret's does not.
func TestWebhookIsSigned(t *testing.T) {
	secret := notify.NewSecret()
	cases := []struct {
		name     string
		secret   string
		status   int
		accepted int
	}{
		{"the receiver's secret", secret, http.StatusOK, 1},
		{"another secret", notify.NewSecret(), http.StatusUnauthorized, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcv := notifytest.StartReceiver(t, secret)
			code, err := notify.HTTP{}.Webhook(context.Background(), rcv.URL, c.secret, sample())
			if code != c.status {
				t.Errorf("status %d, want %d (%v)", code, c.status, err)
			}
			if got := len(rcv.Accepted()); got != c.accepted {
				t.Fatalf("accepted %d, want %d", got, c.accepted)
			}
			if c.accepted == 0 {
				var se *notify.StatusError
				if !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
					t.Errorf("error %v, want a 401 StatusError", err)
				}
				return
			}
			d := rcv.Accepted()[0]
			if d.ID != "msg_1" || d.Payload["event"] != "environment.ready" || d.Payload["text"] == "" {
				t.Errorf("delivery %s: %s", d.ID, d.Body)
			}
			env, _ := d.Payload["environment"].(map[string]any)
			links, _ := d.Payload["links"].([]any)
			if env["name"] != "shop-1" || env["status"] != "ready" || len(links) != 1 {
				t.Errorf("payload %s", d.Body)
			}
		})
	}
}

// The headers carry the message's id and the signing time, and the
// signature is the spec's v1,<base64>.
func TestWebhookHeaders(t *testing.T) {
	var got http.Header
	h := notify.HTTP{Now: func() time.Time { return time.Unix(1614265330, 0) }, Client: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		got = r.Header.Clone()
		return &http.Response{StatusCode: 204, Body: http.NoBody, Header: http.Header{}}, nil
	})}}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if _, err := h.Webhook(context.Background(), "http://receiver.invalid/hook", secret, notify.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Event: "x", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if got.Get("webhook-id") != "msg_p5jXN8AQM9LWM0D4loKWxJek" || got.Get("webhook-timestamp") != "1614265330" {
		t.Errorf("headers %v", got)
	}
	if !strings.HasPrefix(got.Get("webhook-signature"), "v1,") {
		t.Errorf("signature %q, want v1,<base64>", got.Get("webhook-signature"))
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSlackText(t *testing.T) {
	got := notify.SlackText(sample())
	want := "*Environment shop-1 is ready*\nshop-1 (demo-shop 1.2.0) is ready &lt;now&gt;\n<https://mayfly.example/environments/env1|Open in Mayfly>"
	if got != want {
		t.Errorf("slack text\n%q\nwant\n%q", got, want)
	}
	rcv := notifytest.StartReceiver(t, "")
	if _, err := (notify.HTTP{}).Slack(context.Background(), rcv.URL, sample()); err != nil {
		t.Fatal(err)
	}
	if d := rcv.Accepted(); len(d) != 1 || d[0].Payload["text"] != want {
		t.Errorf("slack got %+v", d)
	}
}

// An error never repeats the URL (Slack's is a credential).
func TestWebhookErrorHidesTheURL(t *testing.T) {
	url := "http://127.0.0.1:1/services/T000/B000/SECRETPART"
	_, err := notify.HTTP{Timeout: time.Second}.Slack(context.Background(), url, sample())
	if err == nil || strings.Contains(err.Error(), "SECRETPART") {
		t.Errorf("error %v: want one without the URL", err)
	}
}

// E-mail reaches a real SMTP server, plain and with STARTTLS and AUTH.
func TestSMTPDelivers(t *testing.T) {
	cases := []struct {
		name       string
		tls        bool
		user, pass string
	}{
		{"plain", false, "", ""},
		{"starttls with auth", true, "mayfly", "s3cret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := notifytest.StartSMTP(t, c.tls, c.user, c.pass)
			s := &notify.SMTP{Host: srv.Host, Port: srv.Port, From: "mayfly@example.com", User: c.user, Password: c.pass, TLS: notify.SMTPPlain}
			if c.tls {
				s.TLS, s.TLSConfig = notify.SMTPStartTLS, &tls.Config{RootCAs: srv.Roots}
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), "alice@example.com", sample()); err != nil {
				t.Fatal(err)
			}
			m := srv.Wait(t, 1, 5*time.Second)[0]
			if m.To != "alice@example.com" || m.From != "mayfly@example.com" || m.Subject != "Environment shop-1 is ready" {
				t.Errorf("mail %+v", m)
			}
			if !strings.Contains(m.Body, "Open in Mayfly: https://mayfly.example/environments/env1") {
				t.Errorf("body %q, want the link", m.Body)
			}
			if m.TLS != c.tls || m.User != c.user {
				t.Errorf("tls %v user %q, want %v %q", m.TLS, m.User, c.tls, c.user)
			}
		})
	}
}

// TLS from the first byte (port 465).
func TestSMTPImplicitTLS(t *testing.T) {
	srv := notifytest.StartSMTPTLS(t)
	s := &notify.SMTP{Host: srv.Host, Port: srv.Port, From: "mayfly@example.com", TLS: notify.SMTPTLS, TLSConfig: &tls.Config{RootCAs: srv.Roots}}
	if err := s.Send(context.Background(), "alice@example.com", sample()); err != nil {
		t.Fatal(err)
	}
	if m := srv.Wait(t, 1, 5*time.Second)[0]; !m.TLS || m.Subject != "Environment shop-1 is ready" {
		t.Errorf("mail %+v, want it over TLS", m)
	}
}

// STARTTLS is required when asked for: a server without it is refused,
// and so is a certificate the client does not trust.
func TestSMTPStartTLSIsRequired(t *testing.T) {
	plain := notifytest.StartSMTP(t, false, "", "")
	withTLS := notifytest.StartSMTP(t, true, "", "")
	cases := []struct {
		name string
		srv  *notifytest.SMTPServer
		cfg  *tls.Config
	}{
		{"server without starttls", plain, &tls.Config{RootCAs: withTLS.Roots}},
		{"untrusted certificate", withTLS, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &notify.SMTP{Host: c.srv.Host, Port: c.srv.Port, From: "mayfly@example.com", TLS: notify.SMTPStartTLS, TLSConfig: c.cfg, Timeout: 5 * time.Second}
			if err := s.Send(context.Background(), "alice@example.com", sample()); err == nil {
				t.Error("sent")
			}
			if n := len(c.srv.Mails()); n != 0 {
				t.Errorf("%d mails received", n)
			}
		})
	}
}

func TestSMTPConfigIsChecked(t *testing.T) {
	cases := []struct {
		name string
		s    notify.SMTP
		want string
	}{
		{"from missing", notify.SMTP{Host: "mx", Port: 25, TLS: notify.SMTPPlain}, "smtp-from"},
		{"from not an address", notify.SMTP{Host: "mx", Port: 25, From: "nope", TLS: notify.SMTPPlain}, "smtp-from"},
		{"bad port", notify.SMTP{Host: "mx", Port: 0, From: "a@b.c", TLS: notify.SMTPPlain}, "smtp-port"},
		{"bad tls mode", notify.SMTP{Host: "mx", Port: 25, From: "a@b.c", TLS: "maybe"}, "smtp-tls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Check()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check: %v, want an error naming %s", err, c.want)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	for _, c := range []struct {
		secret string
		ok     bool
	}{
		{notify.NewSecret(), true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},
		{"whsec_!!!", false},
		{"whsec_c2hvcnQ=", false},
	} {
		if got := notify.CheckSecret(c.secret) == ""; got != c.ok {
			t.Errorf("CheckSecret(%q) ok %v, want %v", c.secret, got, c.ok)
		}
	}
}

// The metadata service's address, and any other link-local one, is never
// dialled.
func TestWebhookRefusesLinkLocal(t *testing.T) {
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]:8080/"} {
		_, err := notify.HTTP{Timeout: 2 * time.Second}.Webhook(context.Background(), url, notify.NewSecret(), sample())
		if !errors.Is(err, notify.ErrLinkLocal) {
			t.Errorf("%s: %v, want ErrLinkLocal", url, err)
		}
	}
}
