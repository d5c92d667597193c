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

// TestBrowserNotificationSettings: a webhook channel added on the
// settings page is listed without its secret; a launch reaches the
// receiver, signed, and the admin's delivery log shows the delivery.
func TestBrowserNotificationSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	secret := notify.NewSecret()
	rcv := notifytest.StartReceiver(t, secret)
	ctx := newBrowser(t)

	do(t, ctx, "add a webhook channel",
		chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav-notifications"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="nav-notifications"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="channels-empty"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid="channel-kind"]`), "webhook"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="channel-url"]`), rcv.URL+"/hook"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="channel-secret"]`), secret),
		chromedp.Click(chromedp.CSS(`[data-testid="channel-event-environment.ready"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="channel-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid^="channel-ch_"]`)),
	)
	row := value(t, ctx, "channel row", chromedp.Text(chromedp.CSS(`[data-testid^="channel-ch_"]`)))
	if !strings.Contains(row, rcv.URL+"/hook") || !strings.Contains(row, "Ready") || !strings.Contains(row, "secret stored") {
		t.Errorf("channel row %q, want the URL, the Ready event and a stored secret", row)
	}
	if page := value(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(page, strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the settings page shows the signing secret")
	}
	screenshot(t, ctx, "notification-settings")

	e := s.launch(map[string]any{"template": "tiny", "name": "told-in-browser", "params": map[string]any{"password": "pw"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	if d := rcv.Wait(t, 1, 10*time.Second)[0]; d.Payload["event"] != "environment.ready" {
		t.Errorf("receiver got %s", d.Body)
	}

	do(t, ctx, "open the delivery log",
		chromedp.Click(chromedp.CSS(`[data-testid="nav-deliveries"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="deliveries"]`)),
	)
	cells := waitFor(t, ctx, "a delivery", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="delivery"] td')].map(e => e.textContent.trim())`),
		func(c []string) bool {
			if len(c) == 0 {
				chromedp.Run(ctx, chromedp.Reload()) //nolint:errcheck // the next poll reads the page again
			}
			return len(c) >= 6
		})
	if cells[1] != "environment.ready" || !strings.Contains(cells[2], rcv.URL+"/hook") || cells[3] != e.ID ||
		!strings.HasPrefix(cells[4], "1") || !strings.Contains(cells[5], "delivered") || !strings.Contains(cells[5], "HTTP 200") {
		t.Errorf("delivery row %q", cells)
	}
	screenshot(t, ctx, "notification-deliveries")
	s.destroyClean(e.ID)
}
