package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserKeepingItUp: the environment page says when the environment
// was last used and why it is still running (expiry, inactivity deadline,
// schedule), the proxy link there counts as use, and its own schedule is
// set and turned off from the page.
func TestBrowserKeepingItUp(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s, clock, e := startIdleShop(t)
	ctx := newBrowser(t)
	reasons := chromedp.Text(chromedp.CSS(`[data-testid="keeps-running"]`))
	lastActive := chromedp.Text(chromedp.CSS(`[data-testid="last-active"]`))

	clock.Add(2 * time.Hour)
	do(t, ctx, "open the environment page",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="lifecycle"]`)),
	)
	if got := value(t, ctx, "last active", lastActive); got != "Active 2h ago via launch" {
		t.Errorf("last active %q, want Active 2h ago via launch", got)
	}
	// The clock runs on from the moved time: 22h left reads "21h" a moment later.
	why := value(t, ctx, "why", reasons)
	for _, want := range []string{"Expires in 21h", "Destroyed if unused until", "in 5h: inactivity after 8h"} {
		if !strings.Contains(why, want) {
			t.Errorf("why still running %q, want %q", why, want)
		}
	}
	if strings.Contains(why, "Schedule keeps it") {
		t.Errorf("a schedule is said with none set: %q", why)
	}

	do(t, ctx, "open it through Mayfly's link",
		chromedp.Navigate(s.url+"/e/"+e.ID+"/"),
		chromedp.WaitVisible(chromedp.CSS("body")),
	)
	if shop := value(t, ctx, "shop", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(shop, "Hooli") {
		t.Errorf("the proxied shop does not show Hooli: %.200s", shop)
	}
	if err := s.Service.RunLifecycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "back to the environment page",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="lifecycle"]`)),
	)
	if got := value(t, ctx, "last active", lastActive); got != "Active just now via proxy" {
		t.Errorf("after the proxy: last active %q, want Active just now via proxy", got)
	}
	if why := value(t, ctx, "why", reasons); !strings.Contains(why, "in 7h: inactivity after 8h") {
		t.Errorf("after the proxy the idle deadline did not move: %q", why)
	}

	do(t, ctx, "set its own schedule",
		chromedp.Click(chromedp.CSS(`[data-testid="schedule-mode-custom"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="schedule-stop"]`), "0 18 * * *"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="schedule-start"]`), "0 7 * * MON-FRI"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="schedule-tz"]`), "Europe/Paris"),
		chromedp.Click(chromedp.CSS(`[data-testid="schedule-save"]`)),
	)
	why = waitFor(t, ctx, "the schedule said", reasons, func(s string) bool { return strings.Contains(s, "Schedule keeps it until") })
	if !strings.Contains(why, "18:00 Europe/Paris (the environment's schedule)") {
		t.Errorf("why still running %q, want the schedule until 18:00 Europe/Paris", why)
	}
	screenshot(t, ctx, "keeping-it-up")
	if !containsAny(s.events(e.ID), "Schedule: environment") {
		t.Errorf("the schedule change is not on the timeline: %q", s.events(e.ID))
	}

	do(t, ctx, "turn it off",
		chromedp.Click(chromedp.CSS(`[data-testid="schedule-mode-off"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="schedule-save"]`)),
	)
	waitFor(t, ctx, "the schedule gone", reasons, func(s string) bool {
		return !strings.Contains(s, "Schedule keeps it") && strings.Contains(s, "Expires")
	})
	if l := s.lifecycle(e.ID); l.Override != "off" || l.StopAt != nil {
		t.Errorf("after off: %+v", l)
	}
}
