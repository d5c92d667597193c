package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The environment page follows a long setup step by step, live, and its
// Destroy button cuts the step short: destroyed within seconds.
func TestBrowserTimelineLiveDestroyInterrupts(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, testCatalog(t))
	ctx := newBrowser(t)
	e := s.launch(map[string]any{"template": "slow-setup", "name": "browser-setup", "params": map[string]any{"setup_seconds": 20}})
	timeline := chromedp.Evaluate[[]string](`[...document.querySelectorAll('#timeline [data-testid="event-message"]')].map(e => e.textContent.trim())`)
	has := func(substr string) func([]string) bool {
		return func(msgs []string) bool {
			for _, m := range msgs {
				if strings.Contains(m, substr) {
					return true
				}
			}
			return false
		}
	}
	do(t, ctx, "open the environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="environment-page"]`)),
		// Lost if the page reloads: the lines must come over SSE.
		chromedp.Evaluate[chromedp.Void](`window.__mayflyMarker = "same-page"`),
	)
	waitFor(t, ctx, "the setup step's start", timeline, has("setup: sleep 20 started"))
	if msgs := value(t, ctx, "timeline", timeline); has("setup: sleep 20 finished")(msgs) {
		t.Fatalf("the setup step ended already: %q", msgs)
	}
	if marker := value(t, ctx, "marker", chromedp.Evaluate[string](`String(window.__mayflyMarker)`)); marker != "same-page" {
		t.Errorf("the page reloaded to show the step (marker %q)", marker)
	}
	screenshot(t, ctx, "environment-setup-running")

	confirmDestroy(t, ctx)
	clicked := time.Now()
	waitFor(t, ctx, "status destroyed", chromedp.Text(chromedp.CSS(`[data-testid="status"]`)), statusIs("destroyed"))
	if took := time.Since(clicked); took > 6*time.Second {
		t.Errorf("destroyed %s after the click, during a 20s setup step; want within seconds", took.Round(time.Millisecond))
	}
	waitFor(t, ctx, "the interruption in the timeline", timeline, has("Provisioning stopped for the destroy"))
	msgs := value(t, ctx, "timeline", timeline)
	requested := -1
	for i, m := range msgs {
		if strings.HasPrefix(m, "Destroy requested") {
			requested = i
		}
		if requested >= 0 && provisioningLine.MatchString(m) {
			t.Errorf("%q shown after the destroy request: %q", m, msgs)
		}
	}
	if requested < 0 {
		t.Errorf("no destroy request in the timeline: %q", msgs)
	}
	assertNoProcesses(t, e.ID)
	screenshot(t, ctx, "environment-setup-destroyed")
}

// A failed launch stays on its page as failed, saying its stack is kept
// for debugging and then, live, that it was cleaned up; the Failed tab and
// the admin page list it with its reason.
func TestBrowserFailedLaunchStaysVisible(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, testCatalog(t))
	ctx := newBrowser(t)
	e := s.launch(map[string]any{"template": "held-failure", "name": "browser-failed"})
	stack := chromedp.AttributeValue(chromedp.CSS(`#summary [data-testid="failed-stack"]`), "data-stack")
	stackIs := func(want string) func(chromedp.AttributeResult) bool {
		return func(a chromedp.AttributeResult) bool { return a.Exists && a.Value == want }
	}
	do(t, ctx, "open the environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="environment-page"]`)),
	)
	waitFor(t, ctx, "status failed", chromedp.Text(chromedp.CSS(`[data-testid="status"]`)), statusIs("failed"))
	waitFor(t, ctx, "the stack kept for debugging", stack, stackIs("held"))
	notice := value(t, ctx, "notice", chromedp.Text(chromedp.CSS(`#summary [data-testid="status-reason"]`)))
	if !strings.Contains(notice, "did not become healthy") || !strings.Contains(notice, "kept for debugging until") {
		t.Errorf("the failure notice says %q, want the reason and until when the stack is kept", notice)
	}
	screenshot(t, ctx, "environment-failed-held")
	waitFor(t, ctx, "the stack cleaned up, live", stack, stackIs("cleaned"))
	if got := value(t, ctx, "status", chromedp.Text(chromedp.CSS(`[data-testid="status"]`))); strings.TrimSpace(got) != "failed" {
		t.Errorf("status %q once the stack is cleaned up, want failed", got)
	}
	assertNoProcesses(t, e.ID)

	do(t, ctx, "open the Failed tab",
		chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tab-failed"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="tab-failed"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-row-browser-failed"]`)),
	)
	if st := value(t, ctx, "row status", chromedp.AttributeValue(chromedp.CSS(`[data-testid="env-row-browser-failed"]`), "data-status")); st.Value != "failed" {
		t.Errorf("the Failed tab's row is %q", st.Value)
	}
	do(t, ctx, "open the admin page",
		chromedp.Navigate(s.url+"/admin"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="failure-browser-failed"]`)),
	)
	row := value(t, ctx, "failure row", chromedp.Text(chromedp.CSS(`[data-testid="failure-browser-failed"]`)))
	if !strings.Contains(row, "did not become healthy") || !strings.Contains(row, "Its stack was cleaned up") {
		t.Errorf("the admin page's failure row says %q, want the reason and the clean-up", row)
	}
	screenshot(t, ctx, "admin-failed-launch")
}
