package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// HTTP posts messages to webhooks: Mayfly's own JSON, signed (Webhook), or
// Slack's {"text": ...} (Slack). The zero value works.
type HTTP struct {
	// Client sends the requests (nil: one that follows no redirects and
	// dials no link-local address; see defaultClient).
	Client *http.Client
	// Timeout bounds one request when ctx has no deadline (default 10s).
	Timeout time.Duration
	// Now stamps the signatures (default time.Now).
	Now func() time.Time
}

// defaultClient follows no redirects (a receiver cannot bounce a signed
// body elsewhere) and dials no link-local address: the cloud metadata
// service (169.254.169.254) is one, and a webhook is a URL anyone may set.
var defaultClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, Control: refuseLinkLocal}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
	},
}

// ErrLinkLocal is a webhook whose address is link-local.
var ErrLinkLocal = errors.New("notify: link-local addresses (such as the cloud metadata service) are not webhooks")

func refuseLinkLocal(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if ip = ip.Unmap(); ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
		return ErrLinkLocal
	}
	return nil
}

// Payload is the JSON body of an outgoing webhook.
type Payload struct {
	ID          string       `json:"id"`
	Event       string       `json:"event"`
	Subject     string       `json:"subject"`
	Text        string       `json:"text"`
	At          time.Time    `json:"at"`
	Environment *Environment `json:"environment,omitempty"`
	Links       []Link       `json:"links"`
}

// Webhook posts m as JSON to url, signed with secret (whsec_...) as
// Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature.
// It returns the receiver's status code (0: no answer); an answer other
// than 2xx is a *StatusError.
func (h HTTP) Webhook(ctx context.Context, url, secret string, m Message) (int, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return 0, fmt.Errorf("notify: signing secret: %w", err)
	}
	links := m.Links
	if links == nil {
		links = []Link{}
	}
	body, err := json.Marshal(Payload{ID: m.ID, Event: m.Event, Subject: m.Subject, Text: m.Text, At: m.At.UTC(),
		Environment: m.Environment, Links: links})
	if err != nil {
		return 0, fmt.Errorf("notify: encode webhook: %w", err)
	}
	now := h.now()
	sig, err := wh.Sign(m.ID, now, body)
	if err != nil {
		return 0, fmt.Errorf("notify: sign webhook: %w", err)
	}
	hd := http.Header{}
	hd.Set(standardwebhooks.HeaderWebhookID, m.ID)
	hd.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	hd.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h.post(ctx, url, body, hd)
}

// Slack posts m to a Slack-compatible incoming webhook: {"text": ...}
// with the subject in bold and the links in Slack's <url|label>.
func (h HTTP) Slack(ctx context.Context, url string, m Message) (int, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	body, err := json.Marshal(map[string]string{"text": SlackText(m)})
	if err != nil {
		return 0, fmt.Errorf("notify: encode slack message: %w", err)
	}
	return h.post(ctx, url, body, http.Header{})
}

// SlackText is m in Slack's mrkdwn.
func SlackText(m Message) string {
	var b strings.Builder
	if m.Subject != "" {
		b.WriteString("*" + slackEscape(m.Subject) + "*")
	}
	if m.Text != "" && m.Text != m.Subject {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(slackEscape(m.Text))
	}
	var links []string
	for _, l := range m.Links {
		links = append(links, "<"+l.URL+"|"+slackEscape(l.Label)+">")
	}
	if len(links) > 0 {
		b.WriteString("\n" + strings.Join(links, " · "))
	}
	return b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (h HTTP) post(ctx context.Context, target string, body []byte, hd http.Header) (int, error) {
	ctx, cancel := deadline(ctx, h.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("notify: the URL is not valid") // the URL may be a credential: not repeated
	}
	req.Header = hd
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mayfly")
	c := h.Client
	if c == nil {
		c = defaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// The error without the URL, which may be a credential (Slack's).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("notify: post: %w", err)
	}
	defer resp.Body.Close()
	start, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, &StatusError{Code: resp.StatusCode, Body: strings.Join(strings.Fields(string(start)), " ")}
	}
	return resp.StatusCode, nil
}

func (h HTTP) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 10 * time.Second
}

func (h HTTP) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
