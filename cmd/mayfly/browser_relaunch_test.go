package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/catalog/shop"
)

// TestBrowserRelaunch: on a destroyed environment's page, "Launch again"
// opens the launch form prefilled from it; launching shows the new page
// with its lineage, and the source's timeline says what it was relaunched
// as. A DR drill's form also offers its snapshot again.
func TestBrowserRelaunch(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	src := s.launch(map[string]any{"template": "demo-shop", "name": "browser-src", "params": map[string]any{"customer": "Initech"}, "ttl": "30m"})
	s.waitStatus(src.ID, "ready", 30*time.Second)
	s.destroyClean(src.ID)
	drill := s.launch(map[string]any{"template": "shop-dr-drill", "name": "browser-drill", "params": map[string]any{"title": "Q3 drill"}})
	snapshot := s.waitStatus(drill.ID, "ready", 60*time.Second).Facts["snapshot"]
	s.destroyClean(drill.ID)

	ctx := newBrowser(t)
	status := chromedp.Text(chromedp.CSS(`[data-testid="status"]`))
	inputValue := func(name string) string {
		return value(t, ctx, name, chromedp.Value(chromedp.CSS(`[data-testid="launch-form"] [name="`+name+`"]`)))
	}
	do(t, ctx, "launch again from the destroyed environment's page",
		chromedp.Navigate(s.url+"/environments/"+src.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="relaunch-button"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="relaunch-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="relaunch-notice"]`)),
	)
	if got := inputValue("name"); got != "browser-src" {
		t.Errorf("name prefilled with %q, want the source's", got)
	}
	if got := inputValue("params.customer"); got != "Initech" {
		t.Errorf("customer prefilled with %q, want the source's Initech", got)
	}
	if n := value(t, ctx, "same snapshot box", chromedp.Evaluate[int](`document.querySelectorAll('[name="same_snapshot"]').length`)); n != 0 {
		t.Error("a demo's relaunch form offers the same snapshot")
	}
	screenshot(t, ctx, "relaunch-form")
	do(t, ctx, "change the TTL and launch",
		chromedp.SetValue(chromedp.CSS(`input[name="ttl"]`), "45m"),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="environment-page"]`)),
	)
	newURL := value(t, ctx, "location", chromedp.Location())
	if !strings.Contains(newURL, "/environments/env-") || strings.HasSuffix(newURL, src.ID) {
		t.Fatalf("after the relaunch the browser is at %s", newURL)
	}
	waitFor(t, ctx, "status ready", status, statusIs("ready"))
	lineage := value(t, ctx, "lineage link", chromedp.AttributeValue(chromedp.CSS(`[data-testid="relaunched-from"]`), "href"))
	if lineage.Value != "/environments/"+src.ID {
		t.Errorf("lineage links to %q, want the source", lineage.Value)
	}
	if text := value(t, ctx, "lineage", chromedp.Text(chromedp.CSS(`[data-testid="lineage"]`))); !strings.Contains(text, "relaunched from "+src.ID) {
		t.Errorf("lineage says %q", text)
	}
	newID := newURL[strings.LastIndex(newURL, "/")+1:]
	var e relaunchedJSON
	s.api("GET", "/api/v1/environments/"+newID, nil).decode(t, &e)
	if e.RelaunchedFrom != src.ID || e.Params["customer"] != "Initech" || e.ExpiresAt.Sub(e.CreatedAt) != 45*time.Minute {
		t.Errorf("relaunched from %q with %v, TTL %s; want %s, the source's values, 45m", e.RelaunchedFrom, e.Params, e.ExpiresAt.Sub(e.CreatedAt), src.ID)
	}
	screenshot(t, ctx, "relaunched")

	do(t, ctx, "follow the lineage to the source",
		chromedp.Click(chromedp.CSS(`[data-testid="relaunched-from"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline"]`)))
	timeline := value(t, ctx, "source timeline", chromedp.Text(chromedp.CSS(`[data-testid="timeline"]`)))
	if !strings.Contains(timeline, "Relaunched as browser-src ("+newID+")") {
		t.Errorf("the source's timeline lacks the relaunch: %q", timeline)
	}

	// A newer snapshot since: the box must make the difference.
	if code := shop.Main([]string{"snapshot", "--db", filepath.Join(s.Config.DataDir, "production", "shop.db"),
		"--dataset-dir", filepath.Join(s.Config.DataDir, "snapshots", shop.ProductionDataset), "--id", "later"}, io.Discard, os.Stderr); code != 0 {
		t.Fatalf("sample-app snapshot exited %d", code)
	}
	do(t, ctx, "launch the drill again from the same snapshot",
		chromedp.Navigate(s.url+"/environments/"+drill.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="relaunch-button"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="relaunch-button"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="field-same_snapshot"]`)),
	)
	if help := value(t, ctx, "same snapshot help", chromedp.Text(chromedp.CSS(`[data-testid="field-same_snapshot"]`))); !strings.Contains(help, snapshot) {
		t.Errorf("the same snapshot box says %q, want it to name %s", help, snapshot)
	}
	do(t, ctx, "tick it and launch",
		chromedp.Click(chromedp.CSS(`input[name="same_snapshot"]`)),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="lineage"]`)),
	)
	waitFor(t, ctx, "status ready", status, statusIs("ready"))
	if got := value(t, ctx, "restored snapshot", chromedp.Text(chromedp.CSS(`[data-testid="snapshot"]`))); strings.TrimSpace(got) != snapshot {
		t.Errorf("the relaunched drill restored %q, want %q", got, snapshot)
	}
}
