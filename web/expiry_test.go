package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

func TestExpiryBanner(t *testing.T) {
	warned := time.Now().Add(-time.Minute)
	cases := []struct {
		name    string
		expiry  web.ExpiryView
		destroy bool
		banner  bool
		buttons []string
	}{
		{"not soon: no banner", web.ExpiryView{ExtendBy: "2h"}, true, false, nil},
		{"soon, for someone who may act", web.ExpiryView{Soon: true, WarnedAt: &warned, ExtendBy: "2h", KeepBy: "5h30m0s"}, true, true,
			[]string{"expiry-extend", "expiry-keep", "expiry-destroy"}},
		{"soon, at its maximum", web.ExpiryView{Soon: true}, true, true, []string{"expiry-destroy"}},
		{"soon, for a reader", web.ExpiryView{Soon: true}, false, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := readyEnv()
			e.ExpiresAt = time.Now().Add(42 * time.Minute)
			e.Expiry, e.CanDestroy = c.expiry, c.destroy
			doc := render(t, web.EnvironmentSummary(e))
			banner := byTestID(doc, "expiry-banner")
			if got := banner.Length() == 1; got != c.banner {
				t.Fatalf("banner shown %v, want %v", got, c.banner)
			}
			if !c.banner {
				return
			}
			if text := banner.Text(); !strings.Contains(text, "Expires in 41m") && !strings.Contains(text, "Expires in 42m") {
				t.Errorf("banner %q, want Expires in 42m", text)
			}
			for _, id := range []string{"expiry-extend", "expiry-keep", "expiry-destroy"} {
				want := false
				for _, b := range c.buttons {
					want = want || b == id
				}
				if got := byTestID(doc, id).Length() == 1; got != want {
					t.Errorf("%s shown %v, want %v", id, got, want)
				}
			}
			if c.expiry.KeepBy != "" {
				if v, _ := byTestID(doc, "expiry-keep").Closest("form").Find(`input[name="ttl"]`).Attr("value"); v != c.expiry.KeepBy {
					t.Errorf("keep posts ttl %q, want %q", v, c.expiry.KeepBy)
				}
			}
			if got := byTestID(doc, "expiry-warned").Length() == 1; got != (c.expiry.WarnedAt != nil) {
				t.Errorf("warned note shown %v", got)
			}
		})
	}
}

func TestLinkPage(t *testing.T) {
	exp := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	cases := []struct {
		name, title string
		v           web.LinkView
		confirm     bool
	}{
		{"confirm an extend", "Extend shop by 2h?", web.LinkView{Token: "lnk-a.b", Action: "extend", Environment: "shop", EnvID: "env-1", ExpiresAt: exp, NewExpiry: exp.Add(2 * time.Hour), By: "2h"}, true},
		{"confirm a destroy", "Destroy shop now?", web.LinkView{Token: "lnk-a.b", Action: "destroy", Environment: "shop", EnvID: "env-1", ExpiresAt: exp}, true},
		{"done", "shop now expires 2026-12-07 15:00 UTC", web.LinkView{Action: "extend", Environment: "shop", EnvID: "env-1", NewExpiry: exp.Add(2 * time.Hour), Done: true}, false},
		{"refused", "This link cannot be used", web.LinkView{Refused: "This link was used already."}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := render(t, web.LinkPage(web.Page{Title: "x"}, c.v))
			if got := strings.TrimSpace(byTestID(doc, "link-title").Text()); got != c.title {
				t.Errorf("title %q, want %q", got, c.title)
			}
			form := byTestID(doc, "link-confirm").Closest("form")
			if got := form.Length() == 1; got != c.confirm {
				t.Fatalf("confirm form shown %v, want %v", got, c.confirm)
			}
			if c.confirm {
				if m, _ := form.Attr("method"); m != "post" {
					t.Errorf("the confirmation is a %q form, want post", m)
				}
				if a, _ := form.Attr("action"); a != "/links/"+c.v.Token {
					t.Errorf("action %q", a)
				}
			}
		})
	}
}
