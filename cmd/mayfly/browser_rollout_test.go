package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Labels typed in the launch form are shown on the page and filter the
// list; an author rolls a version out from the catalog (here to a label
// no environment carries: it is done at once, and says so).
func TestBrowserLabelsAndRolloutOfNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	t.Cleanup(s.destroyAll)
	ctx := newBrowser(t)
	do(t, ctx, "launch with labels",
		chromedp.Navigate(s.url+"/templates/demo-shop/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "labelled"),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.customer"]`), "Initech"),
		chromedp.SendKeys(chromedp.CSS(`input[name="labels"]`), "pr=7, commit=abc"),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="labels"]`)),
	)
	// Read afresh each time: a live update may swap the section between a
	// query and a read.
	waitFor(t, ctx, "both labels shown", chromedp.Evaluate[string](`document.querySelector('[data-testid="labels"]')?.textContent ?? ""`),
		func(got string) bool { return strings.Contains(got, "commit=abc") && strings.Contains(got, "pr=7") })
	do(t, ctx, "a bad label is refused in the form",
		chromedp.Navigate(s.url+"/templates/demo-shop/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.customer"]`), "Initech"),
		chromedp.SendKeys(chromedp.CSS(`input[name="labels"]`), "Bad=1"),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-labels"]`)),
	)
	do(t, ctx, "filter the list by label",
		chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`#label-filter-input`)),
		chromedp.SendKeys(chromedp.CSS(`#label-filter-input`), "pr=7"),
		chromedp.Submit(chromedp.CSS(`[data-testid="label-filter"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="label-filter-active"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-row-labelled"]`)),
	)
	publishDemoShop(t, s, "1.1.0")
	do(t, ctx, "roll 1.1.0 out to pr=none from the catalog",
		chromedp.Navigate(s.url+"/catalog"),
		chromedp.Click(chromedp.CSS(`[data-testid="manage-demo-shop"] summary`)),
		chromedp.Click(chromedp.CSS(`[data-testid="rollout-demo-shop-1.1.0"] summary`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="rollout-label-demo-shop-1.1.0"]`), "pr=none"),
		chromedp.Click(chromedp.CSS(`[data-testid="rollout-start-demo-shop-1.1.0"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rollout-status"]`)),
	)
	waitFor(t, ctx, "the rollout done", chromedp.AttributeValue(chromedp.CSS(`[data-testid="rollout-status"]`), "data-status"),
		func(v chromedp.AttributeResult) bool { return v.Value == "done" })
	if got := value(t, ctx, "empty", chromedp.Text(chromedp.CSS(`[data-testid="rollout-empty"]`))); !strings.Contains(got, "No environment matched") {
		t.Errorf("the rollout page says %q", got)
	}
}

// An author rolls 1.1.0 out from the catalog to two environments, one at
// a time, and follows it live to done.
func TestBrowserRolloutFromTheCatalog(t *testing.T) {
	s := startMain(t, "")
	t.Cleanup(s.destroyAll)
	ctx := newBrowser(t)
	var ids []string
	for _, n := range []string{"wave-a", "wave-b"} {
		e := s.launch(map[string]any{"template": "demo-shop", "name": n, "params": map[string]any{"customer": "Acme"}, "labels": map[string]string{"ring": "one"}})
		s.waitStatus(e.ID, "ready", time.Minute)
		ids = append(ids, e.ID)
	}
	publishDemoShop(t, s, "1.1.0")
	do(t, ctx, "roll 1.1.0 out from the catalog",
		chromedp.Navigate(s.url+"/catalog"),
		chromedp.Click(chromedp.CSS(`[data-testid="manage-demo-shop"] summary`)),
		chromedp.Click(chromedp.CSS(`[data-testid="rollout-demo-shop-1.1.0"] summary`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="rollout-label-demo-shop-1.1.0"]`), "ring=one"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="rollout-wave-size-demo-shop-1.1.0"]`), "1"),
		chromedp.Click(chromedp.CSS(`[data-testid="rollout-start-demo-shop-1.1.0"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="wave-2"]`)),
	)
	waitFor(t, ctx, "the rollout done", chromedp.AttributeValue(chromedp.CSS(`[data-testid="rollout-status"]`), "data-status"),
		func(v chromedp.AttributeResult) bool { return v.Value == "done" })
	for _, id := range ids {
		if st := value(t, ctx, "item", chromedp.AttributeValue(chromedp.CSS(`[data-testid="item-`+id+`"]`), "data-state")); st.Value != "done" {
			t.Errorf("%s: %s", id, st.Value)
		}
	}
}
