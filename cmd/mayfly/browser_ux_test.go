package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mayflyhq/mayfly/web"
)

// uxTemplate is published as 1.0.0 and 1.1.0, each with its own
// description; 1.0.0 is then deprecated with a note.
const uxTemplate = `name: ux
version: VERSION
kind: demo
description: DESCRIPTION
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - name: code
    type: string
    pattern: "[a-z]{3}"
    pattern_hint: three lowercase letters
stack:
  services:
    - name: web
      command: ["sleep", "300"]
`

// TestBrowserLaunchFormVersion: the launch form says what the chosen
// version is (its own description), and a deprecated one shows its note
// and no Launch button, until another version is chosen.
func TestBrowserLaunchFormVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	for _, v := range [][2]string{{"1.0.0", "The first cut."}, {"1.1.0", "The second cut, with logs."}} {
		src := strings.NewReplacer("VERSION", v[0], "DESCRIPTION", v[1]).Replace(uxTemplate)
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(src)); r.Status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", v[0], r.Status, r.Body)
		}
	}
	if r := s.api("POST", "/api/v1/templates/ux/versions/1.0.0/deprecate", map[string]string{"note": "Leaks memory; use 1.1.0."}); r.Status != http.StatusOK {
		t.Fatalf("deprecate: %d %s", r.Status, r.Body)
	}
	ctx := newBrowser(t)
	text := func(id string) string {
		return value(t, ctx, id, chromedp.Evaluate[string](`(document.querySelector('[data-testid="`+id+`"]') || {}).textContent || ""`))
	}
	submits := chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="launch-submit"]').length`)

	do(t, ctx, "open the latest version's form",
		chromedp.Navigate(s.url+"/templates/ux/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)))
	if got, want := strings.TrimSpace(text("version-description")), "The second cut, with logs."; got != want {
		t.Errorf("1.1.0's form describes it as %q, want %q", got, want)
	}
	if n := value(t, ctx, "launch buttons", submits); n != 1 {
		t.Errorf("the form of 1.1.0 has %d Launch buttons, want 1", n)
	}
	if got := text("version-deprecated"); got != "" {
		t.Errorf("1.1.0 is said to be deprecated: %q", got)
	}

	do(t, ctx, "open the deprecated version's form",
		chromedp.Navigate(s.url+"/templates/ux/launch?version=1.0.0"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)))
	if got, want := strings.TrimSpace(text("version-description")), "The first cut."; got != want {
		t.Errorf("1.0.0's form describes it as %q, want %q", got, want)
	}
	if n := value(t, ctx, "launch buttons", submits); n != 0 {
		t.Errorf("the form of deprecated 1.0.0 has %d Launch buttons, want none", n)
	}
	if got := text("deprecation-note"); got != "Leaks memory; use 1.1.0." {
		t.Errorf("the deprecation note shows %q, want the author's note", got)
	}
	if got := text("launch-deprecated"); !strings.Contains(got, "1.0.0 is deprecated and cannot be launched") {
		t.Errorf("beside the missing button: %q, want why it cannot be launched", got)
	}

	// Choosing the other version swaps its parts in place.
	do(t, ctx, "choose 1.1.0", chromedp.SetValue(chromedp.CSS(`select[name="version"]`), "1.1.0"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="version"]').dispatchEvent(new Event('change', {bubbles: true}))`))
	waitFor(t, ctx, "a Launch button", submits, func(n int) bool { return n == 1 })
	if got := strings.TrimSpace(text("version-description")); got != "The second cut, with logs." {
		t.Errorf("after choosing 1.1.0 the form describes %q", got)
	}
	if got := text("launch-deprecated") + text("version-deprecated"); got != "" {
		t.Errorf("after choosing 1.1.0 the form still says it is deprecated: %q", got)
	}
}

// TestBrowserPatternInWords: a value that does not match a parameter's
// pattern is stopped by the browser (the pattern attribute, the
// template's hint as its title), and the server's message is the hint.
func TestBrowserPatternInWords(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	ctx := newBrowser(t)
	const hint = "2 to 40 letters, digits, spaces, dots, dashes or &"
	customer := `document.querySelector('input[name="params.customer"]')`
	do(t, ctx, "type a customer the pattern refuses",
		chromedp.Navigate(s.url+"/templates/demo-shop/launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="params.customer"]`), "Acme!"))
	if !value(t, ctx, "pattern mismatch", chromedp.Evaluate[bool](customer+`.validity.patternMismatch`)) {
		t.Errorf("the browser does not check the pattern: %q passes", "Acme!")
	}
	if got := value(t, ctx, "title", chromedp.Evaluate[string](customer+`.title`)); got != hint {
		t.Errorf("the field's title is %q, want the hint %q", got, hint)
	}
	do(t, ctx, "fix it", chromedp.SetValue(chromedp.CSS(`input[name="params.customer"]`), "Acme & Co."))
	if value(t, ctx, "pattern mismatch", chromedp.Evaluate[bool](customer+`.validity.patternMismatch`)) {
		t.Errorf("the browser refuses %q, which the pattern accepts", "Acme & Co.")
	}

	// What the browser checks agrees with what the server checks.
	for _, tt := range []struct {
		pattern string
		values  []string
	}{
		{"^[A-Za-z0-9 .&-]{2,40}$", []string{"Acme & Co.", "a-b", "x", "Acme!", "a&&b", "[x]"}},
		{"[^-a]+", []string{"bcd", "-", "a", "b-"}},
		{`[\w\-.]+`, []string{"a.b-c_d", "a b", "é"}},
		{"[{|}/]x", []string{"{x", "|x", "/x", "ax"}},
		{`\p{L}+`, []string{"Zoë", "z1"}},
	} {
		bp := web.BrowserPattern(tt.pattern)
		re := regexp.MustCompile(`^(?:` + tt.pattern + `)$`)
		for _, v := range tt.values {
			js, _ := json.Marshal([]string{bp, v})
			got := value(t, ctx, "browser match", chromedp.Evaluate[string](`(() => { const [p, v] = `+string(js)+`; try { return String(new RegExp('^(?:' + p + ')$', 'v').test(v)) } catch (e) { return 'invalid: ' + e.message } })()`))
			if want := strconv.FormatBool(re.MatchString(v)); got != want {
				t.Errorf("pattern %q (in the browser %q) on %q: browser %s, server %s", tt.pattern, bp, v, got, want)
			}
		}
	}

	do(t, ctx, "post a refused value as a script would",
		chromedp.SetValue(chromedp.CSS(`input[name="params.customer"]`), "Acme!"),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('[pattern]').forEach(e => e.removeAttribute('pattern'))`),
		chromedp.Submit(chromedp.CSS(`[data-testid="launch-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-params.customer"]`)))
	if got := strings.TrimSpace(value(t, ctx, "error", chromedp.Text(chromedp.CSS(`[data-testid="error-params.customer"]`)))); got != hint {
		t.Errorf("the customer's error says %q, want the hint %q", got, hint)
	}
}

// TestBrowserDestroyedEnvironment: a destroyed environment's URL output
// is text, not a link to an address that is gone, and nothing on its page
// claims to be live.
func TestBrowserDestroyedEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Initech"}})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	ctx := newBrowser(t)
	tag := chromedp.Evaluate[string](`document.querySelector('[data-testid="output-url"]').tagName`)
	lives := chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="live"]').length`)

	do(t, ctx, "open the ready environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="output-url"]`)))
	if got := value(t, ctx, "output tag", tag); got != "A" {
		t.Errorf("a ready environment's URL is a %s, want a link", got)
	}
	if n := value(t, ctx, "live dots", lives); n == 0 {
		t.Errorf("a ready environment's page shows no Live dot")
	}

	// Destroyed while the page is open: the dots go live, over SSE.
	s.destroyClean(e.ID)
	waitFor(t, ctx, "no Live dots", lives, func(n int) bool { return n == 0 })
	if got := value(t, ctx, "output tag", tag); got == "A" {
		t.Errorf("once destroyed, the open page still links the URL")
	}
	do(t, ctx, "open the destroyed environment",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="output-url"]`)))
	if got := value(t, ctx, "output tag", tag); got == "A" {
		t.Errorf("a destroyed environment's URL is still a link")
	}
	if n := value(t, ctx, "live dots", lives); n != 0 {
		t.Errorf("a destroyed environment's page shows %d Live dots", n)
	}
}

// TestBrowserNavigation: Tokens is in everyone's navigation, Users in an
// admin's only, and each leads to its page.
func TestBrowserNavigation(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startSignIn(t, startOP(t))
	_, member, _ := mintSession(t, s, "bob", "developers", "team-shop")
	_, admin, _ := mintSession(t, s, "ada", "mayfly-admins")
	ctx := newBrowser(t)
	has := func(id string) chromedp.Action[int] {
		return chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="nav"] [data-testid="` + id + `"]').length`)
	}

	useSession(t, ctx, s, member)
	do(t, ctx, "a member opens the catalog", chromedp.Navigate(s.url+"/catalog"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav"]`)))
	if value(t, ctx, "tokens link", has("nav-tokens")) != 1 || value(t, ctx, "users link", has("nav-users")) != 0 {
		t.Errorf("a member's navigation: want Tokens and no Users")
	}
	do(t, ctx, "follow Tokens", chromedp.Click(chromedp.CSS(`[data-testid="nav-tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="token-form"]`)))

	useSession(t, ctx, s, admin)
	do(t, ctx, "an admin opens the catalog", chromedp.Navigate(s.url+"/catalog"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav"]`)))
	if value(t, ctx, "tokens link", has("nav-tokens")) != 1 || value(t, ctx, "users link", has("nav-users")) != 1 {
		t.Errorf("an admin's navigation: want Tokens and Users")
	}
	do(t, ctx, "follow Users", chromedp.Click(chromedp.CSS(`[data-testid="nav-users"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="users"]`)))
}
