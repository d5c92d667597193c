package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

func TestNotifySettingsPage(t *testing.T) {
	p := page("notifications")
	p.User = web.UserView{Name: "tina", SignedIn: true, Role: "author"}
	p.CSRFToken = "csrf-123"
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	v := web.NotifySettingsView{Teams: []string{"blue"},
		Events: []web.EventOption{{Value: "environment.ready", Label: "Ready"}, {Value: "environment.drift", Label: "Drift detected"}},
		Channels: []web.ChannelView{
			{ID: "ch_1", Scope: "Mine", Kind: "webhook", Target: "https://h.example/in", HasSecret: true, Events: "Ready", CreatedAt: at, CanRemove: true},
			{ID: "ch_2", Scope: "Team red", Kind: "slack", Target: "hooks.slack.com", HasSecret: true, Events: "every event", CreatedAt: at},
		}}
	cases := []struct {
		name   string
		v      web.NotifySettingsView
		secret bool
		email  bool
	}{
		{"after a list", v, false, false},
		{"after a webhook with a generated secret", func() web.NotifySettingsView { w := v; w.NewSecret = "whsec_abc"; return w }(), true, false},
		{"with e-mail configured", func() web.NotifySettingsView { w := v; w.EmailEnabled = true; return w }(), false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := render(t, web.NotifySettingsPage(p, c.v))
			if got := byTestID(doc, "new-channel-secret").Length() == 1; got != c.secret {
				t.Errorf("secret box shown %v, want %v", got, c.secret)
			}
			if got := doc.Find(`option[value="email"]`).Length() == 1; got != c.email {
				t.Errorf("e-mail offered %v, want %v", got, c.email)
			}
			if v, _ := byTestID(doc, "channel-form").Find(`input[name="_csrf"]`).Attr("value"); v != "csrf-123" {
				t.Errorf("form _csrf %q", v)
			}
			if doc.Find(`option[value="team:blue"]`).Length() != 1 || doc.Find(`option[value="team"]`).Length() != 0 {
				t.Error("want team blue offered, and no free team name for a non-admin")
			}
			if n := byTestID(doc, "channel-remove").Length(); n != 1 {
				t.Errorf("%d remove buttons, want 1 (the team channel is not hers to remove)", n)
			}
			if n := doc.Find(`input[name="events"]`).Length(); n != 2 {
				t.Errorf("%d event boxes, want 2", n)
			}
		})
	}
}

func TestDeliveriesPage(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	doc := render(t, web.DeliveriesPage(page("deliveries"), web.DeliveriesView{Deliveries: []web.DeliveryView{
		{At: at, Event: "environment.ready", Channel: "webhook https://h.example/in", Owner: "user usr-1", EnvironmentID: "env-1", Attempt: 2, Final: true, OK: false, StatusCode: 500, Error: "answered 500"},
	}}))
	if n := byTestID(doc, "delivery").Length(); n != 1 {
		t.Fatalf("%d rows", n)
	}
	if got := byTestID(doc, "delivery-result").Text(); !strings.Contains(got, "failed") || !strings.Contains(got, "HTTP 500") || !strings.Contains(got, "answered 500") {
		t.Errorf("result %q", got)
	}
	if href, _ := doc.Find(`a[href="/environments/env-1"]`).Attr("href"); href == "" {
		t.Error("no link to the environment")
	}
	if byTestID(render(t, web.DeliveriesPage(page("deliveries"), web.DeliveriesView{})), "deliveries-empty").Length() != 1 {
		t.Error("no empty state")
	}
}
