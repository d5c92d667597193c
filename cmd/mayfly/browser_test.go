package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts Debian's headless Chromium (never a downloaded one) and
// accepts confirmation dialogs (hx-confirm) as a user clicking OK would.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("browser tests need Chromium at %s (apt-get install -y chromium): %v", chromiumPath, err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// screenshot saves a full-page PNG into $MAYFLY_SCREENSHOT_DIR (default: a
// folder under the system temp dir) and logs where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MAYFLY_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mayfly-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// waitFor polls the page until fn's value satisfies ok or ctx ends.
func waitFor[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T], ok func(T) bool) T {
	t.Helper()
	var last T
	var lastErr error
	for ctx.Err() == nil {
		last, lastErr = chromedp.Run(ctx, action)
		if lastErr == nil && ok(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: last value %v, last error %v", what, last, lastErr)
	return last
}

func statusIs(want string) func(string) bool {
	return func(s string) bool { return strings.TrimSpace(s) == want }
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func TestBrowserLaunchWatchExtendDestroy(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	ctx := newBrowser(t)
	status := chromedp.Text(chromedp.CSS(`[data-testid="status"]`))
	expiry := chromedp.AttributeValue(chromedp.CSS(`#summary [data-expires-at]`), "data-expires-at")

	// As README's "Try it" says: pick demo-shop, type a customer, Launch;
	// the name the form suggests is kept.
	do(t, ctx, "open the launch form",
		chromedp.Navigate(s.url+"/catalog"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/templates/demo-shop/launch"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/templates/demo-shop/launch"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
	)
	name := value(t, ctx, "suggested name", chromedp.Value(chromedp.CSS(`input[name="name"]`)))
	if !regexp.MustCompile(`^demo-shop-[a-z0-9]{6}$`).MatchString(name) {
		t.Fatalf("the form suggests the name %q, want demo-shop-<6 letters or digits>", name)
	}
	do(t, ctx, "launch from the form",
		chromedp.SendKeys(chromedp.CSS(`input[name="params.customer"]`), "Initech"),
		chromedp.SetValue(chromedp.CSS(`input[name="ttl"]`), "30m"),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="environment-page"]`)),
		// A marker on window survives only as long as the page is not
		// reloaded: the status must turn ready live, over SSE.
		chromedp.Evaluate[chromedp.Void](`window.__mayflyMarker = "same-page"`),
	)
	envURL := value(t, ctx, "location", chromedp.Location())
	if !strings.Contains(envURL, "/environments/env-") {
		t.Fatalf("after launch the browser is at %s", envURL)
	}
	if heading := value(t, ctx, "heading", chromedp.Text(chromedp.CSS(`[data-testid="env-name"]`))); heading != name {
		t.Errorf("the environment is named %q, want the suggested %q", heading, name)
	}
	waitFor(t, ctx, "status ready", status, statusIs("ready"))
	if marker := value(t, ctx, "marker", chromedp.Evaluate[string](`String(window.__mayflyMarker)`)); marker != "same-page" {
		t.Errorf("the page reloaded while waiting for ready (marker %q)", marker)
	}
	outputURL := value(t, ctx, "output link", chromedp.AttributeValue(chromedp.CSS(`[data-testid="output-url"]`), "href")).Value
	screenshot(t, ctx, "environment-ready")

	do(t, ctx, "open the environment's URL", chromedp.Navigate(outputURL))
	if shop := value(t, ctx, "shop text", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(shop, "Initech") {
		t.Errorf("the shop at %s does not show the customer: %.200s", outputURL, shop)
	}
	do(t, ctx, "back to the environment", chromedp.Navigate(envURL))
	waitFor(t, ctx, "status ready", status, statusIs("ready"))
	before := value(t, ctx, "expiry", expiry).Value

	do(t, ctx, "extend",
		chromedp.SetValue(chromedp.CSS(`[data-testid="extend-ttl"]`), "1h"),
		chromedp.Click(chromedp.CSS(`[data-testid="extend-button"]`)),
	)
	after := waitFor(t, ctx, "a new expiry", expiry, func(a chromedp.AttributeResult) bool { return a.Value != before }).Value
	b, _ := time.Parse(time.RFC3339, before)
	a, _ := time.Parse(time.RFC3339, after)
	if got := a.Sub(b); got != time.Hour {
		t.Errorf("extend moved the expiry by %s (%s -> %s), want 1h", got, before, after)
	}

	confirmDestroy(t, ctx)
	waitFor(t, ctx, "status destroyed", status, statusIs("destroyed"))
	screenshot(t, ctx, "environment-destroyed")
	if _, _, err := httpGet(outputURL); err == nil {
		t.Errorf("%s still answers after destroy", outputURL)
	}
}

func TestBrowserLaunchFormShowsFieldErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	ctx := newBrowser(t)
	do(t, ctx, "submit an invalid form",
		chromedp.Navigate(s.url+"/templates/demo-shop/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
		// The browser's own checks would stop the submit; remove them to see
		// the server's answer, as a script posting the form would.
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('[pattern],[required],[min],[max]').forEach(e => ['pattern','required','min','max'].forEach(a => e.removeAttribute(a)))`),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.customer"]`), "<script>"),
		chromedp.SetValue(chromedp.CSS(`input[name="ttl"]`), "100h"),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-ttl"]`)),
	)
	if msg := value(t, ctx, "ttl error", chromedp.Text(chromedp.CSS(`[data-testid="error-ttl"]`))); !strings.Contains(msg, "maximum") {
		t.Errorf("ttl error = %q, want it to name the maximum", msg)
	}
	if kept := value(t, ctx, "kept value", chromedp.Value(chromedp.CSS(`input[name="params.customer"]`))); kept != "<script>" {
		t.Errorf("the form lost the typed value: %q", kept)
	}
	if n := value(t, ctx, "customer error", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="error-params.customer"]').length`)); n != 1 {
		t.Errorf("%d errors under the customer field, want 1", n)
	}
	screenshot(t, ctx, "launch-form-errors")
}

// confirmDestroy clicks Destroy and answers the in-page dialog it opens.
// Opening is retried: a live update may replace the summary card (and its
// button) just as the click lands.
func confirmDestroy(t *testing.T, ctx context.Context) {
	t.Helper()
	open := chromedp.Evaluate[bool](`!!(document.querySelector('#destroy-dialog') || {}).open`)
	for attempt := 0; attempt < 20; attempt++ {
		// A click on a button swapped out between finding and clicking it
		// fails ("could not find node"): that is the race, so try again.
		_, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(`[data-testid="destroy-button"]`)))
		if err == nil && value(t, ctx, "dialog open", open) {
			do(t, ctx, "confirm", chromedp.Click(chromedp.CSS(`[data-testid="destroy-confirm"]`)))
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal("the destroy button never opened its confirmation")
}
