package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The environment page's Drift section: never checked at first, "Check
// for drift" follows the check on the page and shows what drifted and how
// to fix it.
func TestBrowserCheckForDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, filepath.Join("testdata", "drift-catalog"))
	e := s.launch(map[string]any{"template": "drifting", "name": "browser-drift"})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	config := filepath.Join(s.Config.DataDir, "stacks", e.ID, "config", "app.yaml")
	if err := os.WriteFile(config, []byte("title: Edited by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	state := chromedp.AttributeValue(chromedp.CSS(`#drift`), "data-drift")
	do(t, ctx, "open the environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="drift"]`)),
	)
	if got := value(t, ctx, "drift status", chromedp.Text(chromedp.CSS(`[data-testid="drift-status"]`))); strings.TrimSpace(got) != "Never checked" {
		t.Errorf("drift status before a check: %q", got)
	}
	// A live update may replace the section (and its button) as the click
	// lands: click again until the check is under way.
	for attempt := 0; ; attempt++ {
		_, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`[data-testid="drift-check-button"]`)))
		if err == nil {
			break
		}
		if attempt == 20 {
			t.Fatalf("click Check for drift: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitFor(t, ctx, "the drift found", state, func(a chromedp.AttributeResult) bool { return a.Value == "drifted" })
	items := value(t, ctx, "drift items", chromedp.Text(chromedp.CSS(`[data-testid="drift-items"]`)))
	for _, want := range []string{"config/app.yaml", "file", "MODIFIED", "changed since the stack was ready", "declared"} {
		if !strings.Contains(items, want) {
			t.Errorf("the drift list lacks %q: %q", want, items)
		}
	}
	if remedy := value(t, ctx, "remedy", chromedp.Text(chromedp.CSS(`[data-testid="drift-remedy"]`))); !strings.Contains(remedy, "Replace with a fresh stack of the same version to fix it") {
		t.Errorf("remedy: %q", remedy)
	}
	if line := value(t, ctx, "timeline", chromedp.Text(chromedp.CSS(`[data-testid="timeline"]`))); !strings.Contains(line, "Drift detected") {
		t.Errorf("the timeline does not say so: %q", line)
	}
	screenshot(t, ctx, "environment-drifted")
}
