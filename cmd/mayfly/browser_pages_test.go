package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The environments page shows 50 a page, newest first, with Older and
// Newer links; the rows' live refresh keeps the page it is on.
func TestBrowserEnvironmentsPages(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(publishedTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	const n = 55
	for i := range n {
		s.launch(map[string]any{"template": "tiny", "name": fmt.Sprintf("page-%02d", i), "params": map[string]any{"password": "pw"}})
	}
	ctx := newBrowser(t)
	rows := chromedp.Evaluate[[]string](`[...document.querySelectorAll('#env-rows [data-testid="env-link"]')].map(e => e.textContent.trim())`)
	pageIs := func(first, last string, count int) func([]string) bool {
		return func(names []string) bool {
			return len(names) == count && names[0] == first && names[len(names)-1] == last
		}
	}

	do(t, ctx, "open the environments page", chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-rows"]`)))
	waitFor(t, ctx, "the newest 50", rows, pageIs("page-54", "page-05", 50))
	if n := value(t, ctx, "newer link", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="page-prev"]').length`)); n != 0 {
		t.Errorf("the first page links to newer environments")
	}

	do(t, ctx, "go to older", chromedp.Click(chromedp.CSS(`[data-testid="page-next"]`)))
	waitFor(t, ctx, "the oldest 5", rows, pageIs("page-04", "page-00", 5))
	older := value(t, ctx, "location", chromedp.Location())
	if !strings.Contains(older, "cursor=") {
		t.Errorf("the older page's address %s holds no cursor: it could not be shared or reloaded", older)
	}
	// The rows refresh every 5 s; the refresh must stay on this page.
	do(t, ctx, "mark the rows", chromedp.Evaluate[chromedp.Void](`document.querySelector('#env-rows').dataset.marker = "before"`))
	waitFor(t, ctx, "a refresh of the rows", chromedp.Evaluate[string](`document.querySelector('#env-rows').dataset.marker || "refreshed"`),
		func(m string) bool { return m == "refreshed" })
	if names := value(t, ctx, "rows after the refresh", rows); !pageIs("page-04", "page-00", 5)(names) {
		t.Errorf("after the live refresh the older page shows %v", names)
	}

	do(t, ctx, "back to newer", chromedp.Click(chromedp.CSS(`[data-testid="page-prev"]`)))
	waitFor(t, ctx, "the newest 50 again", rows, pageIs("page-54", "page-05", 50))
}
