package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
)

type channelJSON struct {
	ID        string   `json:"id"`
	Scope     string   `json:"scope"`
	Kind      string   `json:"kind"`
	Target    string   `json:"target"`
	Events    []string `json:"events"`
	HasSecret bool     `json:"has_secret"`
	Secret    string   `json:"secret"`
}

// TestNotifyAPI: channels are added, listed (never with their secrets),
// refused naming the field, removed; a launch reaches the webhook (signed)
// and the e-mail address through the configured SMTP server, and the
// delivery log lists both.
func TestNotifyAPI(t *testing.T) {
	mail := notifytest.StartSMTP(t, false, "", "")
	cfg := localConfig(t, "--smtp-host", mail.Host, "--smtp-port", strconv.Itoa(mail.Port), "--smtp-from", "mayfly@example.com", "--smtp-tls", "none")
	s := runTestMain(t, cfg)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}

	assertProblem(t, s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "webhook", "url": "not a url"}), http.StatusUnprocessableEntity, "url")
	assertProblem(t, s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "email", "email": "nobody"}), http.StatusUnprocessableEntity, "email")
	assertProblem(t, s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "slack", "url": "https://hooks.example/x", "events": []string{"nope"}}), http.StatusUnprocessableEntity, "events")

	rcv := notifytest.StartReceiver(t, "")
	r := s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "webhook", "url": rcv.URL, "events": []string{"environment.ready"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("add webhook: %d %s", r.Status, r.Body)
	}
	var hook channelJSON
	r.decode(t, &hook)
	if notify.CheckSecret(hook.Secret) != "" || !hook.HasSecret {
		t.Fatalf("webhook channel %+v: want a generated secret, shown once", hook)
	}
	// The receiver verifies with the secret it was shown.
	secret := hook.Secret
	rcv = notifytest.StartReceiver(t, secret)
	if r := s.api("DELETE", "/api/v1/notifications/channels/"+hook.ID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	r = s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "webhook", "url": rcv.URL, "secret": secret, "events": []string{"environment.ready"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("add webhook: %d %s", r.Status, r.Body)
	}
	hook = channelJSON{}
	r.decode(t, &hook)
	if hook.Secret != "" {
		t.Errorf("a given secret is shown back: %+v", hook)
	}
	slackURL := "https://hooks.slack.example/services/T0/B0/very-secret"
	if r := s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "slack", "url": slackURL, "events": []string{"environment.failed"}}); r.Status != http.StatusCreated {
		t.Fatalf("add slack: %d %s", r.Status, r.Body)
	}
	if r := s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "email", "email": "ops@example.com", "events": []string{"environment.ready"}}); r.Status != http.StatusCreated {
		t.Fatalf("add email: %d %s", r.Status, r.Body)
	}
	list := s.api("GET", "/api/v1/notifications/channels", nil)
	if list.Status != http.StatusOK || strings.Contains(string(list.Body), "very-secret") || strings.Contains(string(list.Body), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}
	var chans struct{ Items []channelJSON }
	list.decode(t, &chans)
	if len(chans.Items) != 3 {
		t.Fatalf("%d channels, want 3: %s", len(chans.Items), list.Body)
	}

	e := s.launch(map[string]any{"template": "tiny", "params": map[string]any{"password": "pw-1234"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	d := rcv.Wait(t, 1, 10*time.Second)[0]
	if d.Payload["event"] != "environment.ready" || !strings.Contains(string(d.Body), e.ID) || strings.Contains(string(d.Body), "pw-1234") {
		t.Errorf("webhook body %s", d.Body)
	}
	m := mail.Wait(t, 1, 10*time.Second)[0]
	if m.To != "ops@example.com" || !strings.Contains(m.Body, "/environments/"+e.ID) {
		t.Errorf("mail to %s: %q", m.To, m.Body)
	}

	var log struct {
		Items []struct {
			Kind  string `json:"kind"`
			Event string `json:"event"`
			OK    bool   `json:"ok"`
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := s.api("GET", "/api/v1/notifications/deliveries", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("deliveries: %d %s", r.Status, r.Body)
		}
		r.decode(t, &log)
		if len(log.Items) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the log
	}
	if len(log.Items) != 2 || !log.Items[0].OK || !log.Items[1].OK {
		t.Errorf("delivery log %+v, want the webhook and the e-mail delivered", log.Items)
	}
	s.destroyClean(e.ID)
}

// The SMTP settings are checked at start, naming the flag.
func TestNotifyConfigIsChecked(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"from missing", []string{"--smtp-host", "mx.example"}, "--smtp-from"},
		{"bad tls mode", []string{"--smtp-host", "mx.example", "--smtp-from", "m@example.com", "--smtp-tls", "sometimes"}, "--smtp-tls"},
		{"user without password", []string{"--smtp-host", "mx.example", "--smtp-from", "m@example.com", "--smtp-user", "u"}, "--smtp-user"},
		{"no attempts", []string{"--notify-attempts", "0"}, "--notify-attempts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--data-dir", t.TempDir()}, c.args...)
			_, err := ParseConfig(args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ParseConfig: %v, want an error naming %s", err, c.want)
			}
		})
	}
}

// A DR drill's result goes to the channels that chose drills, on Slack in
// its mrkdwn with the RTO and RPO.
func TestDrillResultIsNotified(t *testing.T) {
	s := startMain(t, "")
	slack := notifytest.StartReceiver(t, "")
	if r := s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "slack", "url": slack.URL + "/services/T/B/x",
		"events": []string{"environment.drill"}}); r.Status != http.StatusCreated {
		t.Fatalf("add slack: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "shop-dr-drill", "ttl": "10m"})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	text, _ := slack.Wait(t, 1, 10*time.Second)[0].Payload["text"].(string)
	if !strings.HasPrefix(text, "*DR drill "+e.Name+": Recovered and verified: RTO ") || !strings.Contains(text, "RPO") ||
		!strings.Contains(text, "/environments/"+e.ID+"|Open "+e.Name+" in Mayfly>") {
		t.Errorf("slack text %q", text)
	}
	s.destroyClean(e.ID)
}
