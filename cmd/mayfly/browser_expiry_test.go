package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/storage"
)

// signLink signs a one-click link's row as documented in envs/links.go,
// written again here from the format: a link the server did not make
// itself must still open.
func signLink(key []byte, l storage.ActionLink) string {
	derive := hmac.New(sha256.New, key)
	derive.Write([]byte("mayfly one-click link v1"))
	m := hmac.New(sha256.New, derive.Sum(nil))
	fmt.Fprintf(m, "%s\n%s\n%s\n%d\n%d", l.ID, l.EnvironmentID, l.Action, l.Deadline.UnixMicro(), l.ExpiresAt.UnixMicro())
	return l.ID + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestBrowserExpiryWarning: an environment within an hour of its expiry
// shows the banner on its page and a badge in the list; ten minutes before
// it the owner is warned with one-click links, and the extend link opens
// a confirmation page (nothing changes on GET) whose button extends it by
// the template's default TTL.
func TestBrowserExpiryWarning(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	clock := &testClock{}
	cfg := localConfig(t)
	cfg.Clock = clock.Now
	s := runTestMain(t, cfg)
	var tpl struct {
		Versions []struct {
			ExpiryWarnings []string `json:"expiry_warnings"`
		} `json:"versions"`
	}
	s.api("GET", "/api/v1/templates/demo-shop", nil).decode(t, &tpl)
	if len(tpl.Versions) == 0 || strings.Join(tpl.Versions[0].ExpiryWarnings, ",") != "1h,10m" {
		t.Errorf("catalog API: %+v, want expiry_warnings [1h, 10m] (the defaults)", tpl.Versions)
	}
	e := s.launch(map[string]any{"template": "demo-shop", "name": "warned-shop", "ttl": "50m", "params": map[string]any{"customer": "Initech"}})
	e = s.waitStatus(e.ID, "ready", 60*time.Second)
	ctx := newBrowser(t)

	do(t, ctx, "open the environment page",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="expiry-banner"]`)),
	)
	banner := value(t, ctx, "banner", chromedp.Text(chromedp.CSS(`[data-testid="expiry-banner"]`)))
	for _, want := range []string{"Expires in", "Extend +2h", "Keep until max", "Destroy"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner %q, want %q", banner, want)
		}
	}
	screenshot(t, ctx, "expiry-banner")
	do(t, ctx, "the list", chromedp.Navigate(s.url+"/environments"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="expiry-badge"]`)))
	if got := s.env(e.ID); !got.ExpiresSoon || got.WarnedAt != nil {
		t.Errorf("API: expires_soon %v, warned_at %v; want soon, not warned yet", got.ExpiresSoon, got.WarnedAt)
	}

	clock.Add(41 * time.Minute) // the 10m lead is due; the reaper's loop warns
	deadline := time.Now().Add(30 * time.Second)
	for !containsAny(s.events(e.ID), "Expires in ") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning on the timeline: %q", s.events(e.ID))
		}
		time.Sleep(50 * time.Millisecond) // real time: the reaper's loop ticks on its own
	}
	if got := s.env(e.ID); got.WarnedAt == nil {
		t.Errorf("API: warned_at missing after the warning")
	}
	links, err := s.DB.ActionLinks(context.Background(), e.ID)
	var extend storage.ActionLink
	for _, l := range links {
		if l.Action == "extend" {
			extend = l
		}
	}
	if err != nil || len(links) != 3 || extend.ID == "" {
		t.Fatalf("links %+v (%v), want extend, keep, destroy", links, err)
	}
	key, err := s.secretKey()
	if err != nil {
		t.Fatal(err)
	}
	good := signLink(key, extend)
	if code, body, err := httpGet(s.url + "/links/" + good[:len(good)-2] + "xx"); err != nil || code != http.StatusForbidden || !strings.Contains(body, "This link is not valid") {
		t.Errorf("a tampered link: %d %v, want 403 saying it is not valid", code, err)
	}
	before := s.env(e.ID).ExpiresAt
	do(t, ctx, "open the extend link",
		chromedp.Navigate(s.url+"/links/"+signLink(key, extend)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="link-confirm"]`)),
	)
	if title := value(t, ctx, "title", chromedp.Text(chromedp.CSS(`[data-testid="link-title"]`))); title != "Extend warned-shop by 2h?" {
		t.Errorf("confirmation %q, want Extend warned-shop by 2h?", title)
	}
	if got := s.env(e.ID).ExpiresAt; !got.Equal(before) {
		t.Errorf("opening the link moved the expiry to %s", got)
	}
	screenshot(t, ctx, "expiry-link-confirm")
	do(t, ctx, "confirm", chromedp.Click(chromedp.CSS(`[data-testid="link-confirm"]`)))
	shown := waitFor(t, ctx, "the new expiry", chromedp.Text(chromedp.CSS(`[data-testid="link-new-expiry"]`)), func(s string) bool { return s != "" })
	after := s.env(e.ID).ExpiresAt
	if got := after.Sub(before); got != 2*time.Hour {
		t.Errorf("the link moved the expiry by %s, want 2h", got)
	}
	if want := after.UTC().Format("2006-01-02 15:04 UTC"); !strings.Contains(shown, want) {
		t.Errorf("the page shows %q, want %q", shown, want)
	}
	do(t, ctx, "open it again",
		chromedp.Navigate(s.url+"/links/"+signLink(key, extend)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="link-refused"]`)),
	)
	do(t, ctx, "back to the environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="summary"]`)),
	)
	if n := value(t, ctx, "banners", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="expiry-banner"]').length`)); n != 0 {
		t.Errorf("the banner is still shown with 2h left")
	}
}
