package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// From the environment page: Replace with version 1.1.0 switches to a new
// stack (the Stacks card lists both, the first on standby), Roll back to
// 1.0.0 switches back, and a replace whose stack fails says why in a
// banner while 1.0.0 stays in service.
func TestBrowserReplaceAndRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, filepath.Join("testdata", "drift-catalog"))
	src, err := os.ReadFile(filepath.Join("testdata", "drift-catalog", "drifting.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v := func(version string) string {
		return strings.Replace(string(src), "version: 1.0.0", "version: "+version, 1)
	}
	broken := strings.Replace(v("1.2.0"), "  setup:\n", "  setup:\n    - {name: migrate, command: [\"false\"]}\n", 1)
	for _, doc := range []string{v("1.1.0"), broken} {
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(doc)); r.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	e := s.launch(map[string]any{"template": "drifting", "version": "1.0.0", "name": "browser-swap"})
	s.waitStatus(e.ID, "ready", 30*time.Second)

	ctx := newBrowser(t)
	do(t, ctx, "open the environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="replace-form"]`)),
	)
	// Filled and sent in one step: a live update may swap the card.
	replaceWith := func(version string) {
		do(t, ctx, "replace with "+version, chromedp.Evaluate[chromedp.Void](
			`document.querySelector('[data-testid="replace-version"]').value = '`+version+`';
			 document.querySelector('[data-testid="replace-button"]').click()`))
	}
	// Read in one step: a live update may swap the node between a query and
	// its read.
	version := chromedp.Evaluate[string](`(document.querySelector('[data-testid="template-version"]') || {}).textContent || ''`)
	replaceWith("1.1.0")
	waitFor(t, ctx, "the switch", chromedp.Evaluate[string](`(document.querySelector('[data-testid="replace-switched"]') || {}).textContent || ''`),
		func(s string) bool { return strings.Contains(s, "Replaced 1.0.0 with 1.1.0") })
	if got := value(t, ctx, "version", version); !strings.Contains(got, "@1.1.0") {
		t.Errorf("version shown %q, want 1.1.0", got)
	}
	statuses := chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="stack"]')].map(e => e.dataset.stackStatus)`)
	if got := value(t, ctx, "stacks", statuses); strings.Join(got, ",") != "standby,in_service" {
		t.Errorf("stacks %v, want the first on standby and the new one in service", got)
	}
	labels := value(t, ctx, "stack labels", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="event-stack"]').length`))
	if labels == 0 {
		t.Error("no timeline line is labelled with its stack")
	}
	screenshot(t, ctx, "environment-replaced")

	do(t, ctx, "roll back", chromedp.Evaluate[chromedp.Void](
		`window.confirm = () => true; document.querySelector('[data-testid="rollback-button"]').click()`))
	waitFor(t, ctx, "the rollback", version, func(s string) bool { return strings.Contains(s, "@1.0.0") })

	replaceWith("1.2.0")
	banner := waitFor(t, ctx, "the failure banner", chromedp.Evaluate[string](`(document.querySelector('[data-testid="replace-failed"]') || {}).textContent || ''`),
		func(s string) bool { return s != "" })
	if !strings.Contains(banner, "migrate") || !strings.Contains(banner, "1.0.0 stays in service") {
		t.Errorf("banner %q, want the failed step and 1.0.0 kept", banner)
	}
	if got := value(t, ctx, "version", version); !strings.Contains(got, "@1.0.0") {
		t.Errorf("version shown %q after a failed replace, want 1.0.0", got)
	}
	screenshot(t, ctx, "environment-replace-failed")
}
