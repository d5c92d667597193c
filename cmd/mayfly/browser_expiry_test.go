package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/envs/notify"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
)

// TestBrowserExpiryWarning: an environment within an hour of its expiry
// shows the banner on its page and a badge in the list; ten minutes before
// it the owner is warned with one-click links (taken from the warning as
// the owner's signed webhook received it), and the extend link opens a
// confirmation page (nothing changes on GET) whose button extends it by
// the template's default TTL.
func TestBrowserExpiryWarning(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	clock := &testClock{}
	cfg := localConfig(t)
	cfg.Clock = clock.Now
	s := runTestMain(t, cfg)
	secret := notify.NewSecret()
	hook := notifytest.StartReceiver(t, secret)
	if r := s.api("POST", "/api/v1/notifications/channels", map[string]any{"kind": "webhook", "url": hook.URL, "secret": secret,
		"events": []string{"environment.expiring"}}); r.Status != http.StatusCreated {
		t.Fatalf("add webhook: %d %s", r.Status, r.Body)
	}
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
	// The warning's event and its notice are one transaction: once the
	// webhook heard it, the timeline has it.
	links := hookLinks(hook.Wait(t, 1, 30*time.Second)[0])
	if !containsAny(s.events(e.ID), "Expires in ") {
		t.Errorf("no warning on the timeline: %q", s.events(e.ID))
	}
	if got := s.env(e.ID); got.WarnedAt == nil {
		t.Errorf("API: warned_at missing after the warning")
	}
	if _, refused := hook.Requests(); refused != 0 {
		t.Errorf("%d webhook signatures refused", refused)
	}
	extend := links["Extend by 2h"]
	if len(links) != 3 || extend == "" {
		t.Fatalf("webhook links %v, want extend, keep, destroy", links)
	}
	if code, body, err := httpGet(extend[:len(extend)-2] + "xx"); err != nil || code != http.StatusForbidden || !strings.Contains(body, "This link is not valid") {
		t.Errorf("a tampered link: %d %v, want 403 saying it is not valid", code, err)
	}
	before := s.env(e.ID).ExpiresAt
	do(t, ctx, "open the extend link",
		chromedp.Navigate(extend),
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
		chromedp.Navigate(extend),
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
