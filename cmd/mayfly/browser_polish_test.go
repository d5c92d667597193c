package main

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// timesOnPage lists every <time> of the page but the countdowns: its text,
// title and datetime.
var timesOnPage = chromedp.Evaluate[[][3]string](`[...document.querySelectorAll('time:not([data-expires-at])')].map(e => [e.textContent.trim(), e.title, e.getAttribute('datetime') || ''])`)

// TestBrowserTimes: every time the environment, audit and tokens pages
// show is one helper's: a relative text (or, in the timeline, the time of
// day) with the exact UTC time as its title and RFC 3339 as its datetime.
func TestBrowserTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "params": map[string]any{"customer": "Initech"}})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	createLocalToken(t, s, "ci", "member")
	ctx := newBrowser(t)
	title := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d UTC$`)
	datetime := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	text := regexp.MustCompile(`^(just now|\d+[mhd] ago|in \d+[mhd]|\d\d:\d\d:\d\d( [AP]M)?)$`)
	for _, p := range []struct{ name, path, ready string }{
		{"environment", "/environments/" + e.ID, `[data-testid="timeline"]`},
		{"audit log", "/admin/audit", `[data-testid="audit-row"]`},
		{"tokens", "/tokens", `[data-testid="token-form"]`},
	} {
		do(t, ctx, "open the "+p.name+" page", chromedp.Navigate(s.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		times := value(t, ctx, "times", timesOnPage)
		if len(times) == 0 {
			t.Errorf("the %s page shows no time", p.name)
		}
		for _, tm := range times {
			if !text.MatchString(tm[0]) || !title.MatchString(tm[1]) || !datetime.MatchString(tm[2]) {
				t.Errorf("the %s page shows a time as %q (title %q, datetime %q), want relative text or a time of day, the UTC time as title", p.name, tm[0], tm[1], tm[2])
			}
		}
	}
}

// TestBrowserAuditLog: the audit log pages through its entries at the
// chosen page size, filters by a date range from the pickers, refuses a
// range that ends before it starts (naming the field), and links a target
// to its page.
func TestBrowserAuditLog(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	var ids []string
	for _, name := range []string{"audit-a", "audit-b", "audit-c"} {
		ids = append(ids, s.launch(map[string]any{"template": "demo-shop", "name": name, "params": map[string]any{"customer": "Initech"}}).ID)
	}
	ctx := newBrowser(t)
	targets := chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="audit-row"] [data-testid="audit-target"]')].map(e => e.textContent.trim())`)
	today := s.Service.Now().UTC().Format(time.DateOnly)
	tomorrow := s.Service.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)

	do(t, ctx, "two launches a page",
		chromedp.Navigate(s.url+"/admin/audit?action=environment.launch"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-limit"]`)),
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-testid="audit-limit"]'); s.add(new Option('2', '2')); s.value = '2' })()`),
		chromedp.Click(chromedp.CSS(`[data-testid="audit-apply"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-next"]`)))
	first := value(t, ctx, "first page", targets)
	if want := []string{ids[2], ids[1]}; !slices.Equal(first, want) {
		t.Errorf("first page: %q, want the two newest launches %q", first, want)
	}
	do(t, ctx, "older", chromedp.Click(chromedp.CSS(`[data-testid="audit-next"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-prev"]`)))
	if got, want := value(t, ctx, "second page", targets), []string{ids[0]}; !slices.Equal(got, want) {
		t.Errorf("second page: %q, want %q", got, want)
	}
	if n := value(t, ctx, "older link", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="audit-next"]').length`)); n != 0 {
		t.Errorf("the last page links an older one")
	}
	do(t, ctx, "newer", chromedp.Click(chromedp.CSS(`[data-testid="audit-prev"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-next"]`)))
	if got := value(t, ctx, "first page again", targets); !slices.Equal(got, first) {
		t.Errorf("back on the first page: %q, want %q", got, first)
	}

	rows := chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="audit-row"]').length`)
	for _, tt := range []struct {
		name, from, to string
		want           int
	}{
		{"today", today, today, 3},
		{"from tomorrow", tomorrow, "", 0},
	} {
		do(t, ctx, "pick "+tt.name,
			chromedp.Navigate(s.url+"/admin/audit?action=environment.launch"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-from"]`)),
			chromedp.SetValue(chromedp.CSS(`[data-testid="audit-from"]`), tt.from),
			chromedp.SetValue(chromedp.CSS(`[data-testid="audit-to"]`), tt.to),
			chromedp.Click(chromedp.CSS(`[data-testid="audit-apply"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-from"][value="`+tt.from+`"]`)))
		if got := value(t, ctx, "rows", rows); got != tt.want {
			t.Errorf("%s: %d launches, want %d", tt.name, got, tt.want)
		}
	}
	status, body := localCall(t, s, "GET", "/admin/audit?from="+tomorrow+"&to="+today, "", "", "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "must be after the start of the range") {
		t.Errorf("a range ending before it starts: %d, want 422 saying so", status)
	}

	do(t, ctx, "follow a target",
		chromedp.Navigate(s.url+"/admin/audit?action=environment.launch&limit=1"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-target-link"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="audit-target-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="timeline"]`)))
	if got := value(t, ctx, "location", chromedp.Evaluate[string](`location.pathname`)); got != "/environments/"+ids[2] {
		t.Errorf("the target link went to %s, want the environment", got)
	}
}

// publishUX publishes uxTemplate as version 1.1.0 (a second template
// beside demo-shop, cheap to launch).
func publishUX(t *testing.T, s *testServer) {
	t.Helper()
	src := strings.NewReplacer("VERSION", "1.1.0", "DESCRIPTION", "A second template.").Replace(uxTemplate)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(src)); r.Status != http.StatusCreated {
		t.Fatalf("publish ux: %d %s", r.Status, r.Body)
	}
}

// TestListSearchAndFilters: the API's list finds environments by a part
// of their name in any case (?q=), and by template and owner, together.
func TestListSearchAndFilters(t *testing.T) {
	s := startMain(t, "")
	publishUX(t, s)
	s.launch(map[string]any{"template": "demo-shop", "name": "acme-one", "params": map[string]any{"customer": "Acme"}})
	s.launch(map[string]any{"template": "demo-shop", "name": "initech", "params": map[string]any{"customer": "Initech"}})
	s.launch(map[string]any{"template": "ux", "name": "acme-two", "params": map[string]any{"code": "abc"}})
	owner := s.env(s.launch(map[string]any{"template": "ux", "name": "half-off", "params": map[string]any{"code": "abc"}}).ID)
	var me struct {
		Owner string `json:"owner"`
	}
	if s.api("GET", "/api/v1/environments/"+owner.ID, nil).decode(t, &me); me.Owner == "" {
		t.Fatal("the environment has no owner")
	}
	tests := []struct {
		name, query string
		want        []string // names, newest first
	}{
		{"a part of the name", "q=acme", []string{"acme-two", "acme-one"}},
		{"any case", "q=ACME-T", []string{"acme-two"}},
		{"wildcards are literal", "q=_", nil},
		{"a dash", "q=f-o", []string{"half-off"}},
		{"the template", "template=ux", []string{"half-off", "acme-two"}},
		{"name and template", "q=acme&template=demo-shop", []string{"acme-one"}},
		{"the owner", "owner=" + url.QueryEscape(me.Owner) + "&q=init", []string{"initech"}},
		{"another owner", "owner=nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.api("GET", "/api/v1/environments?"+tt.query, nil)
			var out struct{ Items []envJSON }
			r.decode(t, &out)
			var got []string
			for _, e := range out.Items {
				got = append(got, e.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("?%s: %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

// TestBrowserEnvironmentFilters: the environments page searches by name
// and filters by template and owner; the filters are in the URL, and the
// status tabs and the rows' refresh keep them.
func TestBrowserEnvironmentFilters(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	publishUX(t, s)
	s.launch(map[string]any{"template": "demo-shop", "name": "acme-one", "params": map[string]any{"customer": "Acme"}})
	s.launch(map[string]any{"template": "ux", "name": "acme-two", "params": map[string]any{"code": "abc"}})
	s.launch(map[string]any{"template": "ux", "name": "initech", "params": map[string]any{"code": "abc"}})
	ctx := newBrowser(t)
	names := chromedp.Evaluate[[]string](`[...document.querySelectorAll('#env-rows [data-testid^="env-row-"]')].map(e => e.dataset.testid.slice(8))`)

	do(t, ctx, "search acme in ux",
		chromedp.Navigate(s.url+"/environments"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-search"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="env-search"]`), "ACME"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="env-template"]`), "ux"),
		chromedp.Click(chromedp.CSS(`[data-testid="env-filter-apply"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-filter-clear"]`)))
	if got, want := value(t, ctx, "rows", names), []string{"acme-two"}; !slices.Equal(got, want) {
		t.Errorf("search ACME in ux: %q, want %q", got, want)
	}
	loc := value(t, ctx, "location", chromedp.Evaluate[string](`location.search`))
	if q, _ := url.ParseQuery(strings.TrimPrefix(loc, "?")); q.Get("q") != "ACME" || q.Get("template") != "ux" {
		t.Errorf("the URL %q does not keep the filters", loc)
	}
	tab := value(t, ctx, "all tab", chromedp.Evaluate[string](`document.querySelector('[data-testid="tab-all"]').getAttribute('href')`))
	rows := value(t, ctx, "refresh", chromedp.Evaluate[string](`document.querySelector('#env-rows').getAttribute('hx-get')`))
	for _, u := range []string{tab, rows} {
		if q, _ := url.ParseQuery(u[strings.Index(u, "?")+1:]); q.Get("q") != "ACME" || q.Get("template") != "ux" {
			t.Errorf("%q drops the filters", u)
		}
	}
	do(t, ctx, "someone else's", chromedp.Navigate(s.url+"/environments?owner=nobody"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-empty"]`)))
	if got := value(t, ctx, "owner field", chromedp.Evaluate[string](`document.querySelector('[data-testid="env-owner"]').value`)); got != "nobody" {
		t.Errorf("the owner field shows %q, want the filter", got)
	}
	do(t, ctx, "clear", chromedp.Navigate(s.url+"/environments?q=acme"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="env-filter-clear"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="env-filter-clear"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="env-filter-clear"]`)))
	if got := value(t, ctx, "rows", names); len(got) != 3 {
		t.Errorf("after clearing: %q, want all three", got)
	}
}

// TestBrowserTemplatePage: a template's page, reached from the catalog,
// lists its versions (latest, deprecated with its note and no Launch, how
// many environments run each) and shows the line diff between two.
func TestBrowserTemplatePage(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	for _, v := range [][2]string{{"1.0.0", "The first cut."}, {"1.1.0", "The second cut."}} {
		src := strings.NewReplacer("VERSION", v[0], "DESCRIPTION", v[1]).Replace(uxTemplate)
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(src)); r.Status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", v[0], r.Status, r.Body)
		}
	}
	if r := s.api("POST", "/api/v1/templates/ux/versions/1.0.0/deprecate", map[string]string{"note": "Use 1.1.0."}); r.Status != http.StatusOK {
		t.Fatalf("deprecate: %d %s", r.Status, r.Body)
	}
	env := s.launch(map[string]any{"template": "ux", "name": "on-latest", "params": map[string]any{"code": "abc"}})
	ctx := newBrowser(t)
	do(t, ctx, "from an environment to its template's page",
		chromedp.Navigate(s.url+"/environments/"+env.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-page-link"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="template-page-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="versions"]`)))
	if got := value(t, ctx, "location", chromedp.Evaluate[string](`location.pathname + location.hash`)); got != "/templates/ux#version-1.1.0" {
		t.Errorf("the environment's template links to %s, want its version on the template's page", got)
	}
	in := func(version, id string) chromedp.Action[string] {
		return chromedp.Evaluate[string](`((document.querySelector('[data-testid="version-` + version + `"] [data-testid="` + id + `"]') || {}).textContent || "").trim()`)
	}

	do(t, ctx, "open ux from the catalog",
		chromedp.Navigate(s.url+"/catalog"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="template-link-ux"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="template-link-ux"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="versions"]`)))
	for _, tt := range []struct{ version, id, want string }{
		{"1.1.0", "version-latest", "latest"},
		{"1.1.0", "version-live", "1 environment"},
		{"1.1.0", "version-launch", "Launch"},
		{"1.0.0", "version-deprecation-note", "Use 1.1.0."},
		{"1.0.0", "version-live", "0 environments"},
		{"1.0.0", "version-launch", ""},
		{"1.0.0", "version-latest", ""},
	} {
		if got := value(t, ctx, tt.version+" "+tt.id, in(tt.version, tt.id)); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.version, tt.id, got, tt.want)
		}
	}

	do(t, ctx, "compare the two newest",
		chromedp.Click(chromedp.CSS(`[data-testid="compare-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="diff"]`)))
	changed := value(t, ctx, "changed lines", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="diff-line"]:not([data-op="same"])')].map(e => e.dataset.op + ' ' + e.lastElementChild.textContent)`))
	want := []string{"removed version: 1.0.0", "added version: 1.1.0", "removed description: The first cut.", "added description: The second cut."}
	if !slices.Equal(changed, want) {
		t.Errorf("changed lines %q, want %q", changed, want)
	}
	if got := value(t, ctx, "summary", chromedp.Text(chromedp.CSS(`[data-testid="diff-summary"]`))); got != "1.0.0 → 1.1.0: 2 added, 2 removed" {
		t.Errorf("summary %q", got)
	}

	status, body := localCall(t, s, "GET", "/templates/ux?from=0.9.0&to=1.1.0", "", "", "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-from"`) || !strings.Contains(body, "no version 0.9.0 of ux") {
		t.Errorf("an unknown version to compare: %d, want 422 naming from", status)
	}
	if status, _ := localCall(t, s, "GET", "/templates/nope", "", "", ""); status != http.StatusNotFound {
		t.Errorf("an unknown template's page: %d, want 404", status)
	}
}

// TestBrowserDestroyDialog: Destroy asks in the page, in a modal <dialog>
// naming the environment, never with the browser's confirm(); Cancel
// keeps the environment, Destroy in the dialog destroys it and closes it.
func TestBrowserDestroyDialog(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "name": "keep-or-not", "params": map[string]any{"customer": "Initech"}})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	ctx := newBrowser(t)
	open := chromedp.Evaluate[bool](`document.querySelector('#destroy-dialog').open`)
	modal := chromedp.Evaluate[bool](`document.querySelector('#destroy-dialog').matches(':modal')`)

	do(t, ctx, "open the environment, stand in for confirm()",
		chromedp.Navigate(s.url+"/environments/"+e.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="destroy-button"]`)),
		chromedp.Evaluate[chromedp.Void](`window.__confirms = 0; window.confirm = () => { window.__confirms++; return true }`))
	if value(t, ctx, "dialog open", open) {
		t.Fatal("the dialog is open before anyone clicked Destroy")
	}
	do(t, ctx, "click Destroy", chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="destroy-button"]').click()`))
	if !value(t, ctx, "dialog open", open) || !value(t, ctx, "modal", modal) {
		t.Fatal("Destroy did not open a modal dialog")
	}
	if got := value(t, ctx, "question", chromedp.Text(chromedp.CSS(`#destroy-dialog-title`))); got != "Destroy keep-or-not?" {
		t.Errorf("the dialog asks %q", got)
	}
	do(t, ctx, "cancel", chromedp.Click(chromedp.CSS(`[data-testid="destroy-cancel"]`)))
	if value(t, ctx, "dialog open", open) {
		t.Error("Cancel left the dialog open")
	}
	if got := s.env(e.ID).Status; got != "ready" {
		t.Errorf("after Cancel the environment is %s, want ready", got)
	}

	confirmDestroy(t, ctx)
	s.waitStatus(e.ID, "destroyed", 60*time.Second)
	waitFor(t, ctx, "the dialog closed", chromedp.Evaluate[bool](`!(document.querySelector('#destroy-dialog') || {}).open`), func(closed bool) bool { return closed })
	if n := value(t, ctx, "confirm() calls", chromedp.Evaluate[int](`window.__confirms`)); n != 0 {
		t.Errorf("the browser's confirm() was called %d times", n)
	}
}

// TestBrowserNarrowScreen: on a 390 px wide phone, the environment page
// (its tabs included), the environments list, the audit log and a
// template's page fit: nothing scrolls the page sideways.
func TestBrowserNarrowScreen(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a real browser")
	}
	s := startMain(t, "")
	e := s.launch(map[string]any{"template": "demo-shop", "name": "a-rather-long-environment-name-for-a-phone", "params": map[string]any{"customer": "Initech & Sons Worldwide"}})
	s.waitStatus(e.ID, "ready", 60*time.Second)
	s.api("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "30m"})
	ctx := newBrowser(t)
	do(t, ctx, "a phone's viewport", chromedp.EmulateViewport(390, 844))
	// What sticks out, for the failure message.
	wide := chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest('.overflow-x-auto, .overflow-auto, .overflow-hidden, [data-testid="timeline"]')).slice(0, 5).map(e => e.tagName + '.' + e.className.toString().slice(0, 60) + ' ' + (e.dataset.testid || ''))`)
	// The parts that must fit whole, not scroll inside a box of their own.
	clipped := func(sel string) chromedp.Action[[]string] {
		return chromedp.Evaluate[[]string](`[...document.querySelectorAll('` + sel + `')].filter(e => !e.matches('.sr-only')).filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).map(e => e.tagName + ' ' + e.scrollWidth + '/' + e.clientWidth)`)
	}
	for _, p := range []struct{ name, path, ready, whole string }{
		{"environment", "/environments/" + e.ID, `[role="tablist"]`, `[role="tablist"], [role="tablist"] *`},
		{"environments", "/environments", `[data-testid="env-table"]`, `[data-testid="status-tabs"] ul`},
		{"audit log", "/admin/audit", `[data-testid="audit-row"]`, `[data-testid="audit"] table, [data-testid="audit"] table *`},
		{"template", "/templates/demo-shop", `[data-testid="versions"]`, `[data-testid="versions"]`},
	} {
		do(t, ctx, "open the "+p.name+" page", chromedp.Navigate(s.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		if os.Getenv("MAYFLY_SCREENSHOT_DIR") != "" {
			screenshot(t, ctx, "narrow-"+strings.ReplaceAll(p.name, " ", "-"))
		}
		if got := value(t, ctx, "clipped", clipped(p.whole)); len(got) > 0 {
			t.Errorf("on the %s page %q do not fit", p.name, got)
		}
		sizes := value(t, ctx, "widths", chromedp.Evaluate[[2]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
		if sizes[1] != 390 {
			t.Fatalf("the viewport is %d px wide, want 390", sizes[1])
		}
		if sizes[0] > sizes[1] {
			t.Errorf("the %s page is %d px wide in a %d px viewport; sticking out: %q", p.name, sizes[0], sizes[1], value(t, ctx, "wide", wide))
		}
	}
}
