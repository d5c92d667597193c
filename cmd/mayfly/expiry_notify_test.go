package main

import (
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
)

// mailLinks are the links of an e-mail notice: "label: url" lines.
func mailLinks(body string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if i := strings.LastIndex(line, ": http"); i > 0 {
			out[line[:i]] = line[i+2:]
		}
	}
	return out
}

// hookLinks are the links of a webhook notice's payload.
func hookLinks(d notifytest.Delivery) map[string]string {
	out := map[string]string{}
	links, _ := d.Payload["links"].([]any)
	for _, l := range links {
		m, _ := l.(map[string]any)
		label, _ := m["label"].(string)
		u, _ := m["url"].(string)
		out[label] = u
	}
	return out
}

// slackLinks are the <url|label> links of a Slack notice's text.
func slackLinks(d notifytest.Delivery) map[string]string {
	out := map[string]string{}
	text, _ := d.Payload["text"].(string)
	for _, m := range regexp.MustCompile(`<(https?://[^|>]+)\|([^>]+)>`).FindAllStringSubmatch(text, -1) {
		out[m[2]] = m[1]
	}
	return out
}

// linkRequest opens (GET) or confirms (POST) a one-click link as a mail
// reader's browser does, without any session.
func linkRequest(t *testing.T, method, link string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, link, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestExpiryWarningLinksDelivered: a launch with a TTL shorter than the
// shortest lead is warned at once, by e-mail (a real SMTP server) and by a
// signed webhook (a receiver that verifies the signature) and to Slack, each with the
// three one-click links as absolute URLs on the server. The extend link's
// GET shows a confirmation and changes nothing; its POST extends by
// ttl.default (the API shows the new expiry); used again it is refused,
// and so is the warning's destroy link, whose deadline the extend moved.
// A second environment's "destroy now", from the webhook, destroys it.
// Every use and refusal is in the audit log.
func TestExpiryWarningLinksDelivered(t *testing.T) {
	mail := notifytest.StartSMTP(t, false, "", "")
	cfg := localConfig(t, "--smtp-host", mail.Host, "--smtp-port", strconv.Itoa(mail.Port), "--smtp-from", "mayfly@example.com", "--smtp-tls", "none")
	s := runTestMain(t, cfg)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	secret := notify.NewSecret()
	hook := notifytest.StartReceiver(t, secret)
	slack := notifytest.StartReceiver(t, "")
	expiring := []string{"environment.expiring"}
	for _, ch := range []map[string]any{
		{"kind": "email", "email": "owner@example.com", "events": expiring},
		{"kind": "webhook", "url": hook.URL, "secret": secret, "events": expiring},
		{"kind": "slack", "url": slack.URL, "events": expiring},
	} {
		if r := s.api("POST", "/api/v1/notifications/channels", ch); r.Status != http.StatusCreated {
			t.Fatalf("add channel %v: %d %s", ch, r.Status, r.Body)
		}
	}
	onServer := func(t *testing.T, links map[string]string) {
		t.Helper()
		for label, l := range links {
			if u, err := url.Parse(l); err != nil || u.Scheme+"://"+u.Host != s.url || !strings.HasPrefix(u.Path, "/links/") {
				t.Errorf("link %s: %q, want an absolute /links/ URL on %s", label, l, s.url)
			}
		}
	}

	var extended envJSON
	t.Run("by e-mail: extend once", func(t *testing.T) {
		e := s.launch(map[string]any{"template": "tiny", "name": "mailed", "ttl": "5m", "params": map[string]any{"password": "pw-1234"}})
		e = s.waitStatus(e.ID, "ready", 20*time.Second)
		m := mail.Wait(t, 1, 20*time.Second)[0]
		if m.To != "owner@example.com" || m.Subject != "Environment mailed expires in 5 min" || strings.Contains(m.Body, "pw-1234") {
			t.Errorf("mail to %s, subject %q: %q", m.To, m.Subject, m.Body)
		}
		links := mailLinks(m.Body)
		keep := "Keep until " + e.MaxExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
		if len(links) != 3 || links["Extend by 1h"] == "" || links[keep] == "" || links["Destroy now"] == "" {
			t.Fatalf("mail links %v, want Extend by 1h, %s, Destroy now", links, keep)
		}
		onServer(t, links)
		// The webhook heard the same notice, with the same links.
		d := hook.Wait(t, 1, 20*time.Second)[0]
		if d.Payload["event"] != "environment.expiring" || hookLinks(d)["Extend by 1h"] != links["Extend by 1h"] {
			t.Errorf("webhook %s, want the same warning and links", d.Body)
		}
		// And Slack, as mrkdwn links that open the same URLs.
		sl := slack.Wait(t, 1, 20*time.Second)[0]
		if got := slackLinks(sl); !maps.Equal(got, links) {
			t.Errorf("Slack links %v (%s), want the mail's %v", got, sl.Body, links)
		}

		before := s.env(e.ID).ExpiresAt
		code, body := linkRequest(t, http.MethodGet, links["Extend by 1h"])
		if code != http.StatusOK || !strings.Contains(body, `data-testid="link-confirm"`) || !strings.Contains(body, "Extend mailed by 1h?") {
			t.Fatalf("GET the extend link: %d %s", code, body)
		}
		if got := s.env(e.ID).ExpiresAt; !got.Equal(before) {
			t.Errorf("GET moved the expiry from %s to %s", before, got)
		}
		code, body = linkRequest(t, http.MethodPost, links["Extend by 1h"])
		if code != http.StatusOK || !strings.Contains(body, `data-testid="link-new-expiry"`) {
			t.Fatalf("POST the extend link: %d %s", code, body)
		}
		extended = s.env(e.ID)
		if got := extended.ExpiresAt.Sub(before); got != time.Hour {
			t.Errorf("the link moved the expiry by %s, want 1h (ttl.default)", got)
		}
		if code, body := linkRequest(t, http.MethodPost, links["Extend by 1h"]); code != http.StatusConflict || !strings.Contains(body, "used already") {
			t.Errorf("the extend link again: %d, want 409 used already: %s", code, body)
		}
		if code, body := linkRequest(t, http.MethodPost, links["Destroy now"]); code != http.StatusConflict || !strings.Contains(body, "a newer warning brings new links") {
			t.Errorf("the destroy link after the extend: %d, want 409 superseded: %s", code, body)
		}
		if got := s.env(e.ID); got.Status != "ready" || !got.ExpiresAt.Equal(extended.ExpiresAt) {
			t.Errorf("after the refused links: %s, expires %s; want ready, unchanged", got.Status, got.ExpiresAt)
		}
		s.destroyClean(e.ID)
	})

	t.Run("by webhook: destroy now", func(t *testing.T) {
		e := s.launch(map[string]any{"template": "tiny", "name": "hooked", "ttl": "5m", "params": map[string]any{"password": "pw-1234"}})
		s.waitStatus(e.ID, "ready", 20*time.Second)
		var d notifytest.Delivery
		for _, got := range hook.Wait(t, 2, 20*time.Second) {
			if env, _ := got.Payload["environment"].(map[string]any); env["id"] == e.ID {
				d = got
			}
		}
		links := hookLinks(d)
		if len(links) != 3 || links["Destroy now"] == "" {
			t.Fatalf("webhook links %v (%s), want three with Destroy now", links, d.Body)
		}
		onServer(t, links)
		if _, refused := hook.Requests(); refused != 0 {
			t.Errorf("%d webhook signatures refused", refused)
		}
		code, body := linkRequest(t, http.MethodGet, links["Destroy now"])
		if code != http.StatusOK || !strings.Contains(body, `data-testid="link-confirm"`) {
			t.Fatalf("GET the destroy link: %d %s", code, body)
		}
		if got := s.env(e.ID).Status; got != "ready" {
			t.Errorf("GET the destroy link: status %s, want ready", got)
		}
		if code, body := linkRequest(t, http.MethodPost, links["Destroy now"]); code != http.StatusOK {
			t.Fatalf("POST the destroy link: %d %s", code, body)
		}
		s.waitStatus(e.ID, "destroyed", 30*time.Second)
		assertNoProcesses(t, e.ID)
		if code, _ := linkRequest(t, http.MethodPost, links["Destroy now"]); code != http.StatusConflict {
			t.Errorf("the destroy link again: %d, want 409", code)
		}
	})

	t.Run("audited", func(t *testing.T) {
		var log struct {
			Items []auditJSONRow `json:"items"`
		}
		s.api("GET", "/api/v1/audit?action=link.", nil).decode(t, &log)
		count := map[string]int{}
		for _, it := range log.Items {
			count[it.Action+" "+it.Result]++
			if strings.Count(it.Target, ".") > 0 {
				t.Errorf("audit target %q carries the token's signature", it.Target)
			}
		}
		if count["link.use ok"] != 2 || count["link.refused conflict"] != 3 {
			t.Errorf("audit of the links %v, want 2 uses and 3 refusals", count)
		}
	})
}

type auditJSONRow struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Result string `json:"result"`
}
