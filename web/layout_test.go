package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/mayflyhq/mayfly/web"
)

func TestLayoutNav(t *testing.T) {
	tests := []struct {
		name      string
		user      web.UserView
		wantAdmin bool
		wantLocal bool
	}{
		{"user", web.UserView{Name: "ada"}, false, false},
		{"admin", web.UserView{Name: "root", IsAdmin: true}, true, false},
		{"local mode", web.UserView{Name: "local", IsAdmin: true, LocalMode: true}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := page("catalog")
			p.User = tt.user
			doc := render(t, web.CatalogPage(p, nil))
			if got := byTestID(doc, "nav-admin").Length() == 1; got != tt.wantAdmin {
				t.Errorf("admin link: got %v, want %v", got, tt.wantAdmin)
			}
			if got := byTestID(doc, "local-mode").Length() == 1; got != tt.wantLocal {
				t.Errorf("local mode pill: got %v, want %v", got, tt.wantLocal)
			}
			if !strings.Contains(byTestID(doc, "user").Text(), tt.user.Name) {
				t.Errorf("user name %q not shown", tt.user.Name)
			}
			current := one(t, byTestID(doc, "nav").Find(`[aria-current="page"]`), "current nav entry")
			if got, want := attr(current, "href"), "/catalog"; got != want {
				t.Errorf("current: got %q, want %q", got, want)
			}
		})
	}
}

func TestLayoutHead(t *testing.T) {
	p := page("environments")
	p.CSRFToken = "tok123"
	doc := render(t, web.EnvironmentsPage(p, web.EnvironmentList{}))
	if got, want := doc.Find("title").Text(), "Test · Mayfly"; got != want {
		t.Errorf("title: got %q, want %q", got, want)
	}
	hashed := regexp.MustCompile(`^/static/[a-z0-9.-]+\.[0-9a-f]{8}\.(css|js|svg)$`)
	for _, sel := range []string{`link[rel="stylesheet"]`, `link[rel="icon"]`} {
		if href := attr(doc.Find(sel), "href"); !hashed.MatchString(href) {
			t.Errorf("%s: %q is not a hashed static URL", sel, href)
		}
	}
	var scripts []string
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		scripts = append(scripts, attr(s, "src"))
		if !hasAttr(s, "defer") {
			t.Errorf("script %q is not deferred", attr(s, "src"))
		}
	})
	if len(scripts) != 3 || !strings.Contains(scripts[0], "/static/htmx.min.") || !strings.Contains(scripts[1], "/static/htmx-ext-sse.min.") || !strings.Contains(scripts[2], "/static/app.") {
		t.Errorf("scripts: got %v, want htmx, the sse extension and app.js, in that order", scripts)
	}
	for _, s := range scripts {
		if !hashed.MatchString(s) {
			t.Errorf("script %q is not a hashed static URL", s)
		}
	}
	if got := attr(doc.Find(`meta[name="htmx-config"]`), "content"); !strings.Contains(got, `"includeIndicatorStyles":false`) {
		t.Errorf("htmx-config: got %q", got)
	}
	if got := attr(doc.Find(`meta[name="viewport"]`), "content"); !strings.Contains(got, "width=device-width") {
		t.Errorf("viewport: got %q", got)
	}
	if got, want := attr(doc.Find(`meta[name="mayfly-now"]`), "content"), "2026-03-14T15:00:00Z"; got != want {
		t.Errorf("mayfly-now: got %q, want %q", got, want)
	}
	if got, want := attr(doc.Find(`meta[name="csrf-token"]`), "content"), "tok123"; got != want {
		t.Errorf("csrf-token: got %q, want %q", got, want)
	}
}

// Every page must work under a Content-Security-Policy without
// 'unsafe-inline': no inline script, no event handler attribute, no style
// attribute or element.
func TestPagesAreCSPFriendly(t *testing.T) {
	admin := page("admin")
	admin.User.IsAdmin = true
	lf := launchForm()
	lf.Errors = map[string]string{"name": "taken"}
	pages := map[string]templ.Component{
		"catalog":      web.CatalogPage(page("catalog"), []web.TemplateView{demoTemplate()}),
		"launch":       web.LaunchPage(page("catalog"), lf),
		"environments": web.EnvironmentsPage(page("environments"), envList("")),
		"environment":  web.EnvironmentPage(page("environments"), web.EnvironmentDetail{Env: readyEnv(), Events: []web.EventView{{ID: 1, At: now, Kind: "status", Status: "ready"}}}),
		"admin":        web.AdminPage(admin, adminView()),
		"error":        web.ErrorPage(page(""), web.ErrorView{Status: 404}),
	}
	onAttr := regexp.MustCompile(`(?i)\son[a-z]+=`)
	for name, c := range pages {
		t.Run(name, func(t *testing.T) {
			html := renderString(t, c)
			doc := docFromString(t, html)
			if n := doc.Find("script:not([src])").Length(); n > 0 {
				t.Errorf("%d inline scripts", n)
			}
			if n := doc.Find("[style], style").Length(); n > 0 {
				t.Errorf("%d inline styles", n)
			}
			if m := onAttr.FindString(html); m != "" {
				t.Errorf("event handler attribute %q", m)
			}
			doc.Find("[href], [src], [action]").Each(func(_ int, s *goquery.Selection) {
				for _, a := range []string{"href", "src", "action"} {
					if strings.HasPrefix(strings.TrimSpace(strings.ToLower(attr(s, a))), "javascript:") {
						t.Errorf("javascript: URL in %s", a)
					}
				}
			})
			// Every id is unique.
			seen := map[string]bool{}
			doc.Find("[id]").Each(func(_ int, s *goquery.Selection) {
				id := attr(s, "id")
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
			})
			// Every form control has a label.
			doc.Find("input:not([type=hidden]), select").Each(func(_ int, s *goquery.Selection) {
				id := attr(s, "id")
				if id == "" || doc.Find(`label[for="`+id+`"]`).Length() == 0 {
					t.Errorf("control %q has no label", attr(s, "name"))
				}
			})
		})
	}
}

func adminView() web.AdminView {
	failed := readyEnv()
	failed.Name, failed.Status, failed.StatusReason, failed.Live = "broken-demo", "failed", "health check timed out after 60s", false
	stuck := readyEnv()
	stuck.ID, stuck.Name, stuck.Status, stuck.StatusReason = "env_09", "stuck-demo", "destroy_failed", "stack delete failed: DELETE_FAILED"
	return web.AdminView{
		Failures: []web.EnvironmentView{failed, stuck},
		Orphans:  []web.OrphanView{{Provider: "aws", Handle: "mayfly-env-0042", Reason: "no environment with this id"}},
	}
}

func TestAdminPage(t *testing.T) {
	p := page("admin")
	p.User.IsAdmin = true
	doc := render(t, web.AdminPage(p, adminView()))
	tests := []struct {
		name, status, reason string
	}{
		{"broken-demo", "failed", "health check timed out after 60s"},
		{"stuck-demo", "destroy_failed", "stack delete failed: DELETE_FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := one(t, byTestID(doc, "failure-"+tt.name), "failure row")
			if got := row.Find("[data-status]").Text(); got != tt.status {
				t.Errorf("status: got %q, want %q", got, tt.status)
			}
			if got := byTestID(row, "reason").Text(); got != tt.reason {
				t.Errorf("reason: got %q, want %q", got, tt.reason)
			}
			if got := attr(row.Find("a"), "href"); !strings.HasPrefix(got, "/environments/") {
				t.Errorf("link: got %q", got)
			}
		})
	}
	orphan := one(t, byTestID(doc, "orphan-mayfly-env-0042"), "orphan row")
	if !strings.Contains(orphan.Text(), "no environment with this id") {
		t.Errorf("orphan reason missing: %q", orphan.Text())
	}
	if byTestID(doc, "failures-empty").Length()+byTestID(doc, "orphans-empty").Length() != 0 {
		t.Error("empty states shown for non-empty lists")
	}

	empty := render(t, web.AdminPage(p, web.AdminView{}))
	one(t, byTestID(empty, "failures-empty"), "failures empty state")
	one(t, byTestID(empty, "orphans-empty"), "orphans empty state")
}

func TestErrorPage(t *testing.T) {
	tests := []struct {
		name      string
		view      web.ErrorView
		wantTitle string
	}{
		{"given title", web.ErrorView{Status: 404, Title: "Environment not found", Message: "It was destroyed."}, "Environment not found"},
		{"default title", web.ErrorView{Status: 500}, "Something went wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, web.ErrorPage(page(""), tt.view))
			if got := byTestID(doc, "error-title").Text(); got != tt.wantTitle {
				t.Errorf("title: got %q, want %q", got, tt.wantTitle)
			}
			if got := byTestID(doc, "error-message").Text(); got == "" || (tt.view.Message != "" && got != tt.view.Message) {
				t.Errorf("message: got %q", got)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	countdowns := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "expired"},
		{0, "expired"},
		{500 * time.Millisecond, "0s"},
		{42 * time.Second, "42s"},
		{3*time.Minute + 12*time.Second, "3m 12s"},
		{3*time.Minute + 2*time.Second, "3m 02s"},
		{time.Hour + 4*time.Minute + 59*time.Second, "1h 04m"},
		{23*time.Hour + 59*time.Minute, "23h 59m"},
		{51 * time.Hour, "2d 03h"},
	}
	for _, tt := range countdowns {
		if got := web.Countdown(tt.d); got != tt.want {
			t.Errorf("Countdown(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
	agos := []struct {
		t    time.Time
		want string
	}{
		{now.Add(-10 * time.Second), "just now"},
		{now.Add(-5 * time.Minute), "5m ago"},
		{now.Add(-3 * time.Hour), "3h ago"},
		{now.Add(-50 * time.Hour), "2d ago"},
		{now.Add(90 * time.Minute), "in 1h"},
		{now.Add(-60 * 24 * time.Hour), "2026-01-13"},
	}
	for _, tt := range agos {
		if got := web.Ago(now, tt.t); got != tt.want {
			t.Errorf("Ago(%v): got %q, want %q", now.Sub(tt.t), got, tt.want)
		}
	}
	durations := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{14240 * time.Millisecond, "14.2s"},
		{300 * time.Millisecond, "0.3s"},
		{59970 * time.Millisecond, "1m"},
		{12 * time.Minute, "12m"},
		{2 * time.Hour, "2h"},
		{90 * time.Minute, "1h 30m"},
		{52 * time.Hour, "2d 4h"},
	}
	for _, tt := range durations {
		if got := web.Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v): got %q, want %q", tt.d, got, tt.want)
		}
	}
	if got, want := web.DateTime(now), "2026-03-14 15:00 UTC"; got != want {
		t.Errorf("DateTime: got %q, want %q", got, want)
	}
}

// TestWhen: a point in time reads relative to the clock the page was
// rendered with, its exact UTC time in the title.
func TestWhen(t *testing.T) {
	at := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{"past", at.Add(3 * time.Hour), "3h ago"},
		{"future", at.Add(-5 * time.Minute), "in 5m"},
		{"long ago", at.Add(90 * 24 * time.Hour), "2026-03-14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			ctx := web.WithClock(context.Background(), func() time.Time { return tt.now })
			if err := web.TokensPage(page("tokens"), web.TokensView{Tokens: []web.TokenView{{ID: "tok-1", Name: "ci", CreatedAt: at}}}).Render(ctx, &buf); err != nil {
				t.Fatal(err)
			}
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
			if err != nil {
				t.Fatal(err)
			}
			el := doc.Find(`time[data-relative]`).First()
			if got := el.Text(); got != tt.want {
				t.Errorf("text: got %q, want %q", got, tt.want)
			}
			if got, want := attr(el, "title"), "2026-03-14 12:00 UTC"; got != want {
				t.Errorf("title: got %q, want %q", got, want)
			}
			if got, want := attr(el, "datetime"), "2026-03-14T12:00:00Z"; got != want {
				t.Errorf("datetime: got %q, want %q", got, want)
			}
		})
	}
}
