package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// What is typed into the replace form survives a live update of the
// environment's card (an extend here, as another user's would be): the
// card is redrawn around the fields, which keep their value and the
// focus, and Replace then sends what was typed. Roll back sits beside
// Replace.
func TestBrowserReplaceKeepsInput(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, t.TempDir())
	doc := strings.NewReplacer("VERSION", "1.0.0", "PARAMS", "", "CHECK", "true").Replace(typedParams)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(doc)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "typed-params", "version": "1.0.0", "name": "typed-keep",
		"params": map[string]any{"greeting": "hola", "token": "s3cret"}})
	s.waitStatus(e.ID, "ready", 30*time.Second)

	ctx := newBrowser(t)
	const greeting = `#replace-params [name="params.greeting"]`
	do(t, ctx, "open the environment and type a greeting",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="replace-params"][data-version="1.0.0"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+greeting+`').value = ''`),
		chromedp.SendKeys(chromedp.CSS(greeting), "bonjour"),
	)
	expires := chromedp.Evaluate[string](`(document.querySelector('#summary [data-expires-at]') || {dataset: {}}).dataset.expiresAt || ''`)
	before := value(t, ctx, "the expiry shown", expires)

	// A live update: the summary is sent again with the new expiry.
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "30m"}); r.Status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.Status, r.Body)
	}
	after := waitFor(t, ctx, "the redrawn card", expires, func(s string) bool { return s != "" && s != before })
	if after == before {
		t.Fatalf("the card was not redrawn (expiry %s)", after)
	}
	state := value(t, ctx, "the field", chromedp.Evaluate[[]string](`{ const i = document.querySelector('`+greeting+`');
		[i ? i.value : '(gone)', String(i !== null && document.activeElement === i)] }`))
	if state[0] != "bonjour" || state[1] != "true" {
		t.Errorf("after the live update the greeting is %q (focused %s), want %q still focused", state[0], state[1], "bonjour")
	}

	do(t, ctx, "replace", chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="replace-button"]').click()`))
	s.waitReplace(e.ID, "switched")
	if got := s.env(e.ID).Params["greeting"]; got != "bonjour" {
		t.Errorf("greeting after the replace %v, want what was typed, bonjour", got)
	}
	// The answer, then the live updates, draw a fresh form with Roll back
	// beside Replace, on the same line.
	layout := waitFor(t, ctx, "Roll back beside Replace", chromedp.Evaluate[string](`{ const r = document.querySelector('[data-testid="replace-button"]'),
			b = document.querySelector('[data-testid="rollback-button"]');
		if (!r || !b) { '' } else { const x = r.getBoundingClientRect(), y = b.getBoundingClientRect();
			(Math.abs(x.top - y.top) < 2 && y.left >= x.right ? 'beside' : 'apart ' + JSON.stringify([x, y])) } }`),
		func(s string) bool { return s != "" })
	if layout != "beside" {
		t.Errorf("Replace and Roll back: %s, want them side by side", layout)
	}
	screenshot(t, ctx, "environment-replace-kept-input")
}
