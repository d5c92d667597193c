package envs_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
	"github.com/mayflyhq/mayfly/storage"
)

// author is a member of team blue who may set its channels.
var author = envs.Actor{Name: "tina", UserID: "usr-tina", Role: envs.RoleAuthor, Team: "blue", Teams: []string{"blue"}}

func notifyService(t *testing.T, p *faultyProvider, cfg envs.Config) (*envs.Service, *storage.DB) {
	t.Helper()
	db, cipher := openStore(t)
	cfg.ExternalURL = cmpOr(cfg.ExternalURL, "https://mayfly.example")
	return startFaulty(t, db, cipher, p, cfg), db
}

func addChannel(t *testing.T, svc *envs.Service, a envs.Actor, req envs.ChannelRequest) envs.Channel {
	t.Helper()
	ch, _, err := svc.AddNotifyChannel(context.Background(), a, req)
	if err != nil {
		t.Fatalf("add channel %+v: %v", req, err)
	}
	return ch
}

func events(ds []notifytest.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Payload["event"].(string))
	}
	return out
}

// A launch and a destroy tell the owner's channels that chose those
// events, and the team's channels; a channel that chose other events
// hears nothing; each signed webhook verifies.
func TestNoticesReachTheirChannels(t *testing.T) {
	ctx := context.Background()
	svc, _ := notifyService(t, newFaultyProvider(nil), envs.Config{})
	secret := notify.NewSecret()
	own := notifytest.StartReceiver(t, secret)
	teamHook := notifytest.StartReceiver(t, secret)
	slack := notifytest.StartReceiver(t, "")
	failedOnly := notifytest.StartReceiver(t, secret)
	addChannel(t, svc, author, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: own.URL, Secret: secret,
		Events: []string{string(envs.NoticeReady), string(envs.NoticeDestroyed)}})
	addChannel(t, svc, author, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: failedOnly.URL, Secret: secret,
		Events: []string{string(envs.NoticeFailed)}})
	addChannel(t, svc, author, envs.ChannelRequest{Kind: envs.ChannelSlack, URL: slack.URL + "/services/T0/B0/xyz"})
	addChannel(t, svc, author, envs.ChannelRequest{Scope: envs.ScopeTeam, Team: "blue", Kind: envs.ChannelWebhook, URL: teamHook.URL, Secret: secret})
	// Someone else's channel hears none of tina's notices.
	other := notifytest.StartReceiver(t, secret)
	addChannel(t, svc, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: other.URL, Secret: secret})

	env, err := svc.Launch(ctx, author, envs.LaunchRequest{Template: "faulty", Name: "told"})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, svc, env.ID)
	if _, err := svc.Destroy(ctx, author, env.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, svc, env.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })

	want := []string{string(envs.NoticeReady), string(envs.NoticeDestroyed)}
	for name, r := range map[string]*notifytest.Receiver{"own webhook": own, "team webhook": teamHook} {
		got := events(r.Wait(t, 2, 10*time.Second))
		slices.Sort(got)
		if !slices.Equal(got, []string{string(envs.NoticeDestroyed), string(envs.NoticeReady)}) {
			t.Errorf("%s heard %v, want %v", name, got, want)
		}
	}
	d := own.Accepted()[0]
	if e, _ := d.Payload["environment"].(map[string]any); e["name"] != "told" || e["team"] != "blue" {
		t.Errorf("environment summary %v", d.Payload["environment"])
	}
	links, _ := d.Payload["links"].([]any)
	if len(links) != 1 || !strings.Contains(links[0].(map[string]any)["url"].(string), "https://mayfly.example/environments/"+env.ID) {
		t.Errorf("links %v", links)
	}
	texts := slack.Wait(t, 2, 10*time.Second)
	for _, s := range texts {
		if txt, _ := s.Payload["text"].(string); !strings.Contains(txt, "<https://mayfly.example/environments/"+env.ID+"|Open told in Mayfly>") {
			t.Errorf("slack text %q, want the link in mrkdwn", txt)
		}
	}
	// The others had their chance: the deliveries above went out with them.
	if n := len(failedOnly.Accepted()) + len(other.Accepted()); n != 0 {
		t.Errorf("%d deliveries to channels that do not hear them", n)
	}
	if _, refused := own.Requests(); refused != 0 {
		t.Errorf("%d signatures refused", refused)
	}
}

// A receiver that keeps failing gets the configured attempts, further and
// further apart, each in the delivery log with its status and error; the
// last is final.
func TestDeliveryIsRetriedWithBackoff(t *testing.T) {
	ctx := context.Background()
	svc, _ := notifyService(t, newFaultyProvider(nil), envs.Config{NotifyAttempts: 3, RetryDelay: 30 * time.Millisecond})
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	rcv.AnswerWith(http.StatusInternalServerError)
	addChannel(t, svc, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv.URL, Secret: secret,
		Events: []string{string(envs.NoticeReady)}})
	env := launchAs(t, svc, "faulty", "retried", "", nil)
	waitReady(t, svc, env.ID)
	var log []envs.Delivery
	deadline := time.Now().Add(20 * time.Second)
	for len(log) < 3 && time.Now().Before(deadline) {
		var err error
		if log, err = svc.NotifyDeliveries(ctx, envs.System, 10); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // polling the log, not waiting out a delay
	}
	if len(log) != 3 {
		t.Fatalf("%d attempts logged, want 3: %+v", len(log), log)
	}
	slices.Reverse(log) // oldest first
	for i, d := range log {
		if d.Attempt != i+1 || d.OK || d.StatusCode != http.StatusInternalServerError || !strings.Contains(d.Error, "500") {
			t.Errorf("attempt %d: %+v", i+1, d)
		}
		if d.Final != (i == 2) {
			t.Errorf("attempt %d: final %v", i+1, d.Final)
		}
		if d.EnvironmentID != env.ID || d.Event != string(envs.NoticeReady) || d.Kind != envs.ChannelWebhook {
			t.Errorf("attempt %d: %+v", i+1, d)
		}
	}
	// Backoff: 30ms, then 60ms (River schedules them; the gaps are at
	// least that).
	if g1, g2 := log[1].At.Sub(log[0].At), log[2].At.Sub(log[1].At); g1 < 30*time.Millisecond || g2 < 60*time.Millisecond {
		t.Errorf("gaps %s, %s: want at least 30ms, 60ms", g1, g2)
	}
	if all, _ := rcv.Requests(); all != 3 {
		t.Errorf("%d requests, want 3", all)
	}
}

// A channel that hangs and one that answers 500 hold up no destroy: the
// destroy completes in well under one delivery's timeout.
func TestFailingChannelNeverDelaysADestroy(t *testing.T) {
	ctx := context.Background()
	svc, _ := notifyService(t, newFaultyProvider(nil), envs.Config{NotifyTimeout: time.Minute, NotifyWorkers: 1})
	secret := notify.NewSecret()
	hanging := notifytest.StartReceiver(t, secret)
	hanging.Hang()
	failing := notifytest.StartReceiver(t, secret)
	failing.AnswerWith(http.StatusInternalServerError)
	addChannel(t, svc, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: hanging.URL, Secret: secret})
	addChannel(t, svc, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: failing.URL, Secret: secret})
	env := launchAs(t, svc, "faulty", "unheld", "", nil)
	waitReady(t, svc, env.ID)
	// The ready notice holds the one notify worker on the hanging channel.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if all, _ := hanging.Requests(); all > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hanging channel was never tried")
		}
	}
	start := time.Now()
	if _, err := svc.Destroy(ctx, tester, env.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, svc, env.ID, start.Add(10*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusDestroyed })
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("destroy took %s with failing channels", took)
	}
}

// E-mail channels go through the configured SMTP server, with the links.
func TestEmailChannel(t *testing.T) {
	srv := notifytest.StartSMTP(t, false, "", "")
	svc, _ := notifyService(t, newFaultyProvider(nil), envs.Config{SMTP: &notify.SMTP{Host: srv.Host, Port: srv.Port,
		From: "mayfly@example.com", TLS: notify.SMTPPlain}})
	addChannel(t, svc, tester, envs.ChannelRequest{Kind: envs.ChannelEmail, Email: "tester@example.com",
		Events: []string{string(envs.NoticeReady)}})
	env := launchAs(t, svc, "faulty", "mailed", "", nil)
	waitReady(t, svc, env.ID)
	m := srv.Wait(t, 1, 10*time.Second)[0]
	if m.To != "tester@example.com" || m.Subject != "Environment mailed is ready" {
		t.Errorf("mail to %s: %q", m.To, m.Subject)
	}
	if !strings.Contains(m.Body, "https://mayfly.example/environments/"+env.ID) {
		t.Errorf("body %q, want the environment's link", m.Body)
	}
}

// Channels are checked field by field, team channels need the right, and
// secrets are sealed and never shown back.
func TestChannelsAreCheckedAndSecretsKept(t *testing.T) {
	ctx := context.Background()
	svc, db := notifyService(t, newFaultyProvider(nil), envs.Config{})
	cases := []struct {
		name  string
		actor envs.Actor
		req   envs.ChannelRequest
		code  envs.Code
		field string
	}{
		{"unknown kind", tester, envs.ChannelRequest{Kind: "pigeon"}, envs.EInvalid, "kind"},
		{"webhook without url", tester, envs.ChannelRequest{Kind: envs.ChannelWebhook}, envs.EInvalid, "url"},
		{"webhook url not http", tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: "ftp://x"}, envs.EInvalid, "url"},
		{"bad secret", tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: "https://h.example/x", Secret: "hunter2"}, envs.EInvalid, "secret"},
		{"e-mail not configured", tester, envs.ChannelRequest{Kind: envs.ChannelEmail, Email: "a@example.com"}, envs.EInvalid, "email"},
		{"unknown event", tester, envs.ChannelRequest{Kind: envs.ChannelSlack, URL: "https://hooks.example/x", Events: []string{"environment.exploded"}}, envs.EInvalid, "events"},
		{"bad scope", tester, envs.ChannelRequest{Scope: "world", Kind: envs.ChannelSlack, URL: "https://hooks.example/x"}, envs.EInvalid, "scope"},
		{"team without name", author, envs.ChannelRequest{Scope: envs.ScopeTeam, Kind: envs.ChannelSlack, URL: "https://hooks.example/x"}, envs.EInvalid, "team"},
		{"member of another team", author, envs.ChannelRequest{Scope: envs.ScopeTeam, Team: "red", Kind: envs.ChannelSlack, URL: "https://hooks.example/x"}, envs.EForbidden, ""},
		{"member, not author", envs.Actor{Name: "m", UserID: "usr-m", Role: envs.RoleMember, Teams: []string{"blue"}},
			envs.ChannelRequest{Scope: envs.ScopeTeam, Team: "blue", Kind: envs.ChannelSlack, URL: "https://hooks.example/x"}, envs.EForbidden, ""},
		{"viewer of nothing", envs.Actor{Name: "nobody"}, envs.ChannelRequest{Kind: envs.ChannelSlack, URL: "https://hooks.example/x"}, envs.EForbidden, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := svc.AddNotifyChannel(ctx, c.actor, c.req)
			if got := envs.ErrorCode(err); got != c.code {
				t.Fatalf("code %s, want %s (%v)", got, c.code, err)
			}
			if c.field != "" && !slices.Contains(fieldsOf(err), c.field) {
				t.Errorf("fields %v, want %s", fieldsOf(err), c.field)
			}
		})
	}

	slackURL := "https://hooks.slack.example/services/T0/B0/topsecretpart"
	ch, generated, err := svc.AddNotifyChannel(ctx, author, envs.ChannelRequest{Scope: envs.ScopeTeam, Team: "blue", Kind: envs.ChannelSlack, URL: slackURL})
	if err != nil {
		t.Fatal(err)
	}
	if generated != "" || ch.Target != "hooks.slack.example" || !ch.HasSecret {
		t.Errorf("slack channel %+v (secret %q): want only the host shown", ch, generated)
	}
	hook, generated, err := svc.AddNotifyChannel(ctx, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: "https://h.example/in"})
	if err != nil {
		t.Fatal(err)
	}
	if notify.CheckSecret(generated) != "" {
		t.Errorf("generated secret %q", generated)
	}
	rows, err := db.AllNotifyChannels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if bytes.Contains(r.Secret, []byte("topsecretpart")) || bytes.Contains(r.Secret, []byte(strings.TrimPrefix(generated, "whsec_"))) {
			t.Errorf("channel %s: secret stored in the clear", r.ID)
		}
	}
	// Who sees what: tester their own; tina her team's; an admin every team's.
	for _, v := range []struct {
		actor envs.Actor
		want  []string
	}{{tester, []string{hook.ID}}, {author, []string{ch.ID}}, {envs.System, []string{ch.ID}}} {
		got, err := svc.NotifyChannels(ctx, v.actor)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if !slices.Equal(ids, v.want) {
			t.Errorf("%s sees %v, want %v", v.actor.Name, ids, v.want)
		}
	}
	// Someone else's channel is not found for tina; tester removes his own.
	if err := svc.RemoveNotifyChannel(ctx, author, hook.ID); envs.ErrorCode(err) != envs.ENotFound {
		t.Errorf("tina removes tester's channel: %v", err)
	}
	if err := svc.RemoveNotifyChannel(ctx, tester, hook.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.NotifyDeliveries(ctx, tester, 10); envs.ErrorCode(err) != envs.EForbidden {
		t.Errorf("a member reads the delivery log: %v", err)
	}
	entries, err := db.AuditEntries(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "notify.") {
			actions = append(actions, e.Action+" "+e.Result)
			if strings.Contains(e.Target+e.Detail, "topsecretpart") {
				t.Errorf("audit entry carries the secret: %+v", e)
			}
		}
	}
	if !slices.Contains(actions, "notify.channel.add ok") || !slices.Contains(actions, "notify.channel.remove ok") ||
		!slices.Contains(actions, "notify.channel.add forbidden") {
		t.Errorf("audited %v", actions)
	}
}

// A failed launch and a destroy given up tell the owner, with the reason.
func TestFailureNotices(t *testing.T) {
	ctx := context.Background()
	p := newFaultyProvider(map[string]plan{"broken": {provision: always(fail)}, "undying": {destroy: always(fail)}})
	svc, _ := notifyService(t, p, envs.Config{ProvisionAttempts: 2, DestroyAttempts: 2})
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	addChannel(t, svc, tester, envs.ChannelRequest{Kind: envs.ChannelWebhook, URL: rcv.URL, Secret: secret,
		Events: []string{string(envs.NoticeFailed), string(envs.NoticeDestroyFailed)}})

	broken := launchAs(t, svc, "faulty", "broken", "", nil)
	waitFor(t, svc, broken.ID, time.Now().Add(30*time.Second), func(e *envs.Environment) bool { return e.Status == envs.StatusFailed })
	got := rcv.Wait(t, 1, 10*time.Second)
	if got[0].Payload["event"] != string(envs.NoticeFailed) || !strings.Contains(got[0].Payload["text"].(string), "attempt 2 of 2") {
		t.Errorf("failed notice %s", got[0].Body)
	}

	undying := launchAs(t, svc, "faulty", "undying", "", nil)
	waitReady(t, svc, undying.ID)
	if _, err := svc.Destroy(ctx, tester, undying.ID); err != nil {
		t.Fatal(err)
	}
	got = rcv.Wait(t, 2, 20*time.Second)
	if got[1].Payload["event"] != string(envs.NoticeDestroyFailed) || !strings.Contains(got[1].Payload["text"].(string), "gave up after 2 attempts") {
		t.Errorf("destroy failed notice %s", got[1].Body)
	}
	if e, _ := got[1].Payload["environment"].(map[string]any); e["status"] != string(envs.StatusDestroyFailed) {
		t.Errorf("environment %v, want destroy_failed", got[1].Payload["environment"])
	}
}
