package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

func envList(status string) web.EnvironmentList {
	ready := readyEnv()
	prov := readyEnv()
	prov.ID, prov.Name, prov.Status, prov.ReadyAt = "env_02", "globex-demo", "provisioning", nil
	gone := readyEnv()
	gone.ID, gone.Name, gone.Status, gone.Live, gone.CanDestroy = "env_03", "old-demo", "destroyed", false, false
	gone.DestroyedAt = ptr(now.Add(-2 * time.Hour))
	return web.EnvironmentList{
		Environments: []web.EnvironmentView{ready, prov, gone},
		Status:       status,
		Counts:       map[string]int{"ready": 1, "provisioning": 1, "destroyed": 1},
	}
}

func TestEnvironmentRows(t *testing.T) {
	tests := []struct {
		status  string
		wantGet string
	}{
		{"", "/environments?partial=rows"},
		{"all", "/environments?partial=rows&status=all"},
		{"destroy_failed", "/environments?partial=rows&status=destroy_failed"},
	}
	for _, tt := range tests {
		t.Run("status="+tt.status, func(t *testing.T) {
			// A <tbody> alone is dropped by an HTML parser outside a table.
			html := "<table>" + renderString(t, web.EnvironmentRows(page("environments"), envList(tt.status))) + "</table>"
			doc := docFromString(t, html)
			body := one(t, doc.Find("tbody#env-rows"), "tbody#env-rows")
			for k, want := range map[string]string{"hx-get": tt.wantGet, "hx-trigger": "every 5s", "hx-swap": "outerHTML"} {
				if got := attr(body, k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
		})
	}

	html := "<table>" + renderString(t, web.EnvironmentRows(page("environments"), envList(""))) + "</table>"
	doc := docFromString(t, html)
	rows := []struct {
		name, status string
		countdown    bool
	}{
		{"acme-demo", "ready", true},
		{"globex-demo", "provisioning", true},
		{"old-demo", "destroyed", false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			row := one(t, byTestID(doc, "env-row-"+r.name), "row")
			link := one(t, row.Find("a"), "link")
			if !strings.HasPrefix(attr(link, "href"), "/environments/env_0") || link.Text() != r.name {
				t.Errorf("link: got %q %q", attr(link, "href"), link.Text())
			}
			if got := row.Find("[data-status]").Text(); got != r.status {
				t.Errorf("status: got %q, want %q", got, r.status)
			}
			if got := row.Find("[data-expires-at]").Length() == 1; got != r.countdown {
				t.Errorf("countdown: got %v, want %v", got, r.countdown)
			}
			if !strings.Contains(row.Text(), "crm-demo@1.2.0") {
				t.Errorf("template@version missing: %q", row.Text())
			}
		})
	}
	t.Run("countdown text from the page clock", func(t *testing.T) {
		if got, want := byTestID(doc, "env-row-acme-demo").Find("[data-expires-at]").Text(), "1h 04m"; got != want {
			t.Errorf("countdown: got %q, want %q", got, want)
		}
	})
}

func TestEnvironmentsPager(t *testing.T) {
	t.Run("one page: no pager", func(t *testing.T) {
		doc := render(t, web.EnvironmentsPage(page("environments"), envList("")))
		if n := byTestID(doc, "env-pager").Length(); n != 0 {
			t.Errorf("got %d pagers, want none", n)
		}
	})
	t.Run("a middle page links both ways and refreshes itself", func(t *testing.T) {
		l := envList("ready")
		l.Cursor, l.Next, l.Prev = "cur", "older", "newer"
		doc := render(t, web.EnvironmentsPage(page("environments"), l))
		if got, want := attr(byTestID(doc, "page-next"), "href"), "/environments?cursor=older&status=ready"; got != want {
			t.Errorf("next: got %q, want %q", got, want)
		}
		if got, want := attr(byTestID(doc, "page-prev"), "href"), "/environments?cursor=newer&status=ready"; got != want {
			t.Errorf("prev: got %q, want %q", got, want)
		}
		if got, want := attr(doc.Find("tbody#env-rows"), "hx-get"), "/environments?partial=rows&status=ready&cursor=cur"; got != want {
			t.Errorf("refresh: got %q, want %q", got, want)
		}
	})
	t.Run("the first page has no link to newer ones", func(t *testing.T) {
		l := envList("")
		l.Next = "older"
		doc := render(t, web.EnvironmentsPage(page("environments"), l))
		if n := byTestID(doc, "page-prev").Length(); n != 0 {
			t.Errorf("got %d links to newer, want none", n)
		}
		one(t, byTestID(doc, "page-next"), "link to older")
	})
}

func TestEnvironmentRowsEmpty(t *testing.T) {
	html := "<table>" + renderString(t, web.EnvironmentRows(page("environments"), web.EnvironmentList{})) + "</table>"
	doc := docFromString(t, html)
	empty := one(t, byTestID(doc, "env-empty"), "empty state")
	if got, want := attr(empty.Find("a"), "href"), "/catalog"; got != want {
		t.Errorf("empty state link: got %q, want %q", got, want)
	}
}

func TestEnvironmentsPageTabs(t *testing.T) {
	tests := []struct {
		status    string
		wantTab   string
		wantCount string
	}{
		{"", "tab-live", "2"},
		{"all", "tab-all", "3"},
		{"destroyed", "tab-destroyed", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.wantTab, func(t *testing.T) {
			doc := render(t, web.EnvironmentsPage(page("environments"), envList(tt.status)))
			current := one(t, byTestID(doc, "status-tabs").Find(`[aria-current="page"]`), "current tab")
			if got := attr(current, "data-testid"); got != tt.wantTab {
				t.Errorf("current tab: got %q, want %q", got, tt.wantTab)
			}
			if got := current.Find("span").Text(); got != tt.wantCount {
				t.Errorf("count: got %q, want %q", got, tt.wantCount)
			}
			if got := byTestID(doc, "env-rows").Find("tr").Length(); got != 3 {
				t.Errorf("rows: got %d, want 3", got)
			}
		})
	}
}
