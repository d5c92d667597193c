package main

import (
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// timesOnPage lists every <time> of the page but the countdowns: its text,
// title and datetime.
var timesOnPage = chromedp.Evaluate[[][3]string](`[...document.querySelectorAll('time:not([data-expires-at])')].map(e => [e.textContent.trim(), e.title, e.getAttribute('datetime') || ''])`)

// TestBrowserTimes: every time the environment, audit and tokens pages
// show is one helper's: a relative text (or, in the timeline, the time of
// day) with the exact UTC time as its title and RFC 3339 as its datetime.
func TestBrowserTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Initech"}})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	createLocalToken(t, s, "ci", "member")
	ctx := newBrowser(t)
	title := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d UTC$`)
	datetime := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	text := regexp.MustCompile(`^(just now|\d+[mhd] ago|in \d+[mhd]|\d\d:\d\d:\d\d( [AP]M)?)$`)
	for _, p := range []struct{ name, path, ready string }{
		{"environment", "/environments/" + e.ID, `[data-testid="timeline"]`},
		{"audit log", "/admin/audit", `[data-testid="audit-row"]`},
		{"tokens", "/tokens", `[data-testid="token-form"]`},
	} {
		do(t, ctx, "open the "+p.name+" page", chromedp.Navigate(s.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		times := value(t, ctx, "times", timesOnPage)
		if len(times) == 0 {
			t.Errorf("the %s page shows no time", p.name)
		}
		for _, tm := range times {
			if !text.MatchString(tm[0]) || !title.MatchString(tm[1]) || !datetime.MatchString(tm[2]) {
				t.Errorf("the %s page shows a time as %q (title %q, datetime %q), want relative text or a time of day, the UTC time as title", p.name, tm[0], tm[1], tm[2])
			}
		}
	}
}
