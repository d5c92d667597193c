package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// typedParams is a template whose 1.1.0 adds a parameter (replicas, with a
// default) and drops one (legacy); 1.1.0's setup proves the stack was
// built with the greeting typed in and the secret kept.
const typedParams = `name: typed-params
version: VERSION
kind: demo
description: A shop with typed parameters.
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - {name: greeting, type: string, default: hello}
  - {name: token, type: string, secret: true, required: true}
PARAMS
stack:
  setup:
    - command: ["sh", "-c", "CHECK"]
  services:
    - name: web
      command: ["{{.Mayfly}}", "sample-app", "serve", "--addr", "127.0.0.1:{{.Port}}", "--db", "data/shop.db"]
      health: {path: /healthz, interval: 200ms, timeout: 30s}
      outputs: {url: "http://127.0.0.1:{{.Port}}/"}
  restore:
    snapshot: shop-production
    into: data
`

// From the environment page: choosing 1.1.0 shows its parameters typed,
// prefilled from the environment (the new one with its default, the
// dropped one gone, the secret an empty password field); a value out of
// range is refused next to its field; a changed greeting replaces the
// stack, which then runs 1.1.0 with it and the secret kept.
func TestBrowserReplaceTypedParams(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, t.TempDir())
	doc := func(version, params, check string) []byte {
		r := strings.NewReplacer("VERSION", version, "PARAMS", params, "CHECK", check)
		return []byte(r.Replace(typedParams))
	}
	for _, d := range [][]byte{
		doc("1.0.0", "  - {name: legacy, type: string, default: old}", "true"),
		doc("1.1.0", "  - {name: replicas, type: int, default: 2, min: 1, max: 5}",
			`test '{{.Params.greeting}}' = bonjour && test '{{.Params.token}}' = s3cret && test '{{.Params.replicas}}' = 2`),
	} {
		if r := s.do("POST", "/api/v1/templates", "application/yaml", d); r.Status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	e := s.launch(map[string]any{"template": "typed-params", "version": "1.0.0", "name": "typed-swap",
		"params": map[string]any{"greeting": "hola", "token": "s3cret"}})
	s.waitStatus(e.ID, "ready", 30*time.Second)

	ctx := newBrowser(t)
	do(t, ctx, "open the environment and choose 1.1.0",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="replace-params"][data-version="1.0.0"]`)),
		chromedp.Evaluate[chromedp.Void](`const sel = document.querySelector('[data-testid="replace-version"]');
			sel.value = '1.1.0'; sel.dispatchEvent(new Event('change', {bubbles: true}))`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="replace-params"][data-version="1.1.0"]`)),
	)
	fields := value(t, ctx, "the fields", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#replace-params input:not([type=hidden])')]
		.map(i => i.name + '|' + i.type + '|' + i.value)`))
	want := []string{"params.greeting|text|hola", "params.token|password|", "params.replicas|number|2"}
	if !slices.Equal(fields, want) {
		t.Errorf("fields:\n got %q\nwant %q", fields, want)
	}
	if help := value(t, ctx, "the secret's help", chromedp.Evaluate[string](`(document.getElementById('launch-params-token-help') || {}).textContent || ''`)); !strings.Contains(help, "Leave it empty") {
		t.Errorf("secret help %q, want it to say an empty field keeps the value", help)
	}

	// The browser's own checks off, so that the server's are seen.
	do(t, ctx, "replace with too many replicas", chromedp.Evaluate[chromedp.Void](`{ const f = document.querySelector('[data-testid="replace-form"]');
		f.noValidate = true; f.querySelector('[name="params.replicas"]').value = '9';
		f.querySelector('[data-testid="replace-button"]').click() }`))
	msg := waitFor(t, ctx, "the field error", chromedp.Evaluate[string](`(document.getElementById('launch-params-replicas-error') || {}).textContent || ''`),
		func(s string) bool { return s != "" })
	if !strings.Contains(msg, "5") {
		t.Errorf("replicas error %q, want the maximum", msg)
	}
	if got := s.env(e.ID).Params["greeting"]; got != "hola" {
		t.Errorf("a refused replace changed greeting to %v", got)
	}

	do(t, ctx, "replace with a new greeting", chromedp.Evaluate[chromedp.Void](`{ const f = document.querySelector('[data-testid="replace-form"]');
		f.querySelector('[name="params.replicas"]').value = '2';
		f.querySelector('[name="params.greeting"]').value = 'bonjour';
		f.querySelector('[data-testid="replace-button"]').click() }`))
	waitFor(t, ctx, "the switch", chromedp.Evaluate[string](`(document.querySelector('[data-testid="replace-switched"], [data-testid="replace-failed"]') || {}).textContent || ''`),
		func(s string) bool { return s != "" && !strings.Contains(s, "Building") })
	// The refreshed form offers 1.1.0's fields with the values it now runs.
	greeting := waitFor(t, ctx, "the refreshed form", chromedp.Evaluate[string](`(document.querySelector('[data-testid="replace-params"][data-version="1.1.0"] [name="params.greeting"]') || {}).value || ''`),
		func(s string) bool { return s != "" })
	if greeting != "bonjour" {
		t.Errorf("greeting offered after the replace %q, want bonjour", greeting)
	}
	screenshot(t, ctx, "environment-replaced-typed")
	got := s.env(e.ID)
	if got.Params["greeting"] != "bonjour" || fmt.Sprint(got.Params["replicas"]) != "2" || got.Params["legacy"] != nil {
		t.Errorf("params after the replace %v, want greeting bonjour, replicas 2, no legacy", got.Params)
	}
	if !slices.Contains(got.SecretParams, "token") {
		t.Errorf("secret params %v, want token kept", got.SecretParams)
	}
	if v := value(t, ctx, "version", chromedp.Evaluate[string](`(document.querySelector('[data-testid="template-version"]') || {}).textContent || ''`)); !strings.Contains(v, "@1.1.0") {
		t.Errorf("version shown %q, want 1.1.0", v)
	}
}
