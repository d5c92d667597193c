package web_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/mayflyhq/mayfly/web"
)

func TestEnvironmentSummary(t *testing.T) {
	e := readyEnv()
	doc := render(t, web.EnvironmentSummary(e))
	summary := one(t, doc.Find("#summary"), "#summary")

	t.Run("replaced whole by actions, never listens itself", func(t *testing.T) {
		// Actions swap #summary; the SSE listener lives on a wrapper in the
		// page, so a replaced card never drops a live update.
		for k, want := range map[string]string{"id": "summary", "sse-swap": ""} {
			if got := attr(summary, k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
	})
	t.Run("status testid holds the raw status", func(t *testing.T) {
		if got, want := one(t, byTestID(doc, "status"), "status").Text(), "ready"; got != want {
			t.Errorf("status: got %q, want %q", got, want)
		}
	})
	t.Run("outputs", func(t *testing.T) {
		tests := []struct {
			name     string
			wantLink bool
		}{
			{"url", true},
			{"db", false},
			{"evil", false}, // not http(s): never a link
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				el := one(t, byTestID(doc, "output-"+tt.name), "output")
				isLink := el.Is("a")
				if isLink != tt.wantLink {
					t.Fatalf("link: got %v, want %v", isLink, tt.wantLink)
				}
				if !isLink {
					return
				}
				if got, want := attr(el, "href"), "http://127.0.0.1:41234/"; got != want {
					t.Errorf("href: got %q, want %q", got, want)
				}
				if got, want := attr(el, "target"), "_blank"; got != want {
					t.Errorf("target: got %q, want %q", got, want)
				}
				if !strings.Contains(attr(el, "rel"), "noopener") {
					t.Errorf("rel: got %q, want noopener", attr(el, "rel"))
				}
			})
		}
	})
	t.Run("secrets masked", func(t *testing.T) {
		if strings.Contains(renderString(t, web.EnvironmentSummary(e)), "hunter2") {
			t.Fatal("a secret value is in the page")
		}
		if got, want := byTestID(byTestID(doc, "param-api_key"), "param-value").Text(), "••••••"; got != want {
			t.Errorf("secret: got %q, want %q", got, want)
		}
		if got, want := byTestID(byTestID(doc, "param-customer"), "param-value").Text(), "acme"; got != want {
			t.Errorf("param: got %q, want %q", got, want)
		}
	})
	t.Run("extend", func(t *testing.T) {
		form := one(t, byTestID(doc, "extend-form"), "extend form")
		for k, want := range map[string]string{"hx-post": "/environments/env_01/extend", "hx-target": "#summary", "hx-swap": "outerHTML"} {
			if got := attr(form, k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
		var opts []string
		form.Find(`select[name="ttl"] option`).Each(func(_ int, s *goquery.Selection) { opts = append(opts, attr(s, "value")) })
		if got, want := strings.Join(opts, ","), "30m,1h,2h"; got != want {
			t.Errorf("options: got %q, want %q", got, want)
		}
		one(t, byTestID(form, "extend-button"), "extend button")
	})
	t.Run("destroy", func(t *testing.T) {
		// The button only opens the page's dialog, which asks and posts.
		btn := one(t, byTestID(doc, "destroy-button"), "destroy button")
		if got := attr(btn, "data-dialog-open"); got != "destroy-dialog" || attr(btn, "hx-post") != "" || attr(btn, "hx-confirm") != "" {
			t.Errorf("the button opens %q (hx-post %q, hx-confirm %q), want the dialog and no request", got, attr(btn, "hx-post"), attr(btn, "hx-confirm"))
		}
		page := render(t, web.EnvironmentPage(page("environments"), web.EnvironmentDetail{Env: e}))
		dialog := one(t, page.Find(`dialog#destroy-dialog`), "destroy dialog")
		if dialog.Closest("#summary").Length() != 0 {
			t.Errorf("the dialog is inside #summary: a live update would close it")
		}
		if got := strings.TrimSpace(dialog.Find("h2").Text()); got != "Destroy acme-demo?" {
			t.Errorf("the dialog asks %q", got)
		}
		form := one(t, byTestID(dialog, "destroy-confirm").Closest("form"), "confirm form")
		for k, want := range map[string]string{
			"hx-post":   "/environments/env_01/destroy",
			"hx-target": "#summary",
			"hx-swap":   "outerHTML",
		} {
			if got := attr(form, k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
	})
	t.Run("countdown", func(t *testing.T) {
		el := one(t, byTestID(doc, "time-left").Find("[data-expires-at]"), "countdown")
		if got, want := attr(el, "data-expires-at"), "2026-03-14T16:04:00Z"; got != want {
			t.Errorf("data-expires-at: got %q, want %q", got, want)
		}
	})
}

func TestEnvironmentSummaryByStatus(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*web.EnvironmentView)
		wantExtend  bool
		wantDestroy bool
		wantReason  string
	}{
		{"ready", func(*web.EnvironmentView) {}, true, true, ""},
		{"at max lifetime", func(e *web.EnvironmentView) { e.ExtendOptions = nil }, false, true, ""},
		{"failed", func(e *web.EnvironmentView) {
			e.Status, e.StatusReason, e.Live = "failed", "health check timed out", false
		}, false, true, "health check timed out"},
		{"destroy failed, retrying", func(e *web.EnvironmentView) {
			e.Status, e.StatusReason, e.Live = "destroy_failed", "Destroy refused: quota exceeded", false
		}, false, true, "Destroy failed: Mayfly keeps retrying"},
		{"destroy given up", func(e *web.EnvironmentView) {
			e.Status, e.Live, e.DestroyGivenUp = "destroy_failed", false, true
			e.StatusReason = "still being deleted after the destroy timeout of 1h (gave up: retry from the admin page)"
		}, false, true, "Destroy failed: Mayfly stopped retrying, an administrator can retry it"},
		{"destroying", func(e *web.EnvironmentView) {
			e.Status, e.Live, e.CanDestroy = "destroying", false, false
		}, false, false, ""},
		{"destroyed after a failure", func(e *web.EnvironmentView) {
			e.Status, e.Live, e.CanDestroy, e.FailureReason = "destroyed", false, false, "port in use"
			e.DestroyedAt = ptr(now)
		}, false, false, "port in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := readyEnv()
			tt.edit(&e)
			doc := render(t, web.EnvironmentSummary(e))
			if got := byTestID(doc, "extend-button").Length() == 1; got != tt.wantExtend {
				t.Errorf("extend: got %v, want %v", got, tt.wantExtend)
			}
			if got := byTestID(doc, "destroy-button").Length() == 1; got != tt.wantDestroy {
				t.Errorf("destroy: got %v, want %v", got, tt.wantDestroy)
			}
			if got, want := byTestID(doc, "status").Text(), e.Status; got != want {
				t.Errorf("status: got %q, want %q", got, want)
			}
			if tt.wantReason != "" && !strings.Contains(doc.Text(), tt.wantReason) {
				t.Errorf("reason %q not shown", tt.wantReason)
			}
		})
	}
}

func TestEnvironmentSummaryDrill(t *testing.T) {
	e := readyEnv()
	e.Kind, e.RTO, e.RPO, e.SnapshotName = "dr", "14.2s", "3h12m", "prod-2026-03-14"
	e.SnapshotTakenAt = ptr(now.Add(-3 * time.Hour))
	doc := render(t, web.EnvironmentSummary(e))
	for id, want := range map[string]string{"rto": "14.2s", "rpo": "3h12m", "snapshot": "prod-2026-03-14"} {
		if got := byTestID(doc, id).Text(); got != want {
			t.Errorf("%s: got %q, want %q", id, got, want)
		}
	}
	if byTestID(render(t, web.EnvironmentSummary(readyEnv())), "drill").Length() != 0 {
		t.Error("a demo environment shows the drill card")
	}
}

func TestEnvironmentPage(t *testing.T) {
	d := web.EnvironmentDetail{
		Env: readyEnv(),
		Events: []web.EventView{
			{ID: 1, At: now.Add(-30 * time.Minute), Kind: "action", Message: "Launched", Actor: "ada"},
			{ID: 2, At: now.Add(-29 * time.Minute), Kind: "status", Status: "ready", Message: "All services healthy"},
		},
		Services: []string{"web", "db"},
		Flash:    "Extended by 1h",
	}
	doc := render(t, web.EnvironmentPage(page("environments"), d))

	t.Run("SSE connection on a parent of the summary", func(t *testing.T) {
		root := one(t, doc.Find("[sse-connect]"), "sse-connect")
		if got, want := attr(root, "sse-connect"), "/environments/env_01/stream?after=2"; got != want {
			t.Errorf("sse-connect: got %q, want %q", got, want)
		}
		if got, want := attr(root, "hx-ext"), "sse"; got != want {
			t.Errorf("hx-ext: got %q, want %q", got, want)
		}
		if root.Find("#summary").Length() != 1 || root.Find("#timeline").Length() != 1 {
			t.Error("summary and timeline are not inside the SSE element")
		}
		if hasAttr(root, "hx-target") || hasAttr(root, "hx-swap") {
			t.Error("the SSE element sets hx-target/hx-swap, which its children would inherit")
		}
	})
	t.Run("timeline", func(t *testing.T) {
		tl := one(t, doc.Find("ol#timeline"), "timeline")
		for k, want := range map[string]string{"sse-swap": "timeline", "hx-swap": "beforeend"} {
			if got := attr(tl, k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
		if got, want := byTestID(tl, "event").Length(), 2; got != want {
			t.Errorf("events: got %d, want %d", got, want)
		}
		if byTestID(tl, "timeline-earlier").Length() != 0 {
			t.Error("a whole timeline says earlier events are hidden")
		}
	})
	t.Run("the newest events of a long timeline", func(t *testing.T) {
		d := d
		d.EarlierEvents, d.AllEventsURL = true, "/environments/env_01?events=all"
		doc := render(t, web.EnvironmentPage(page("environments"), d))
		link := one(t, byTestID(doc, "timeline-all"), "link to the whole timeline")
		if got, want := attr(link, "href"), "/environments/env_01?events=all"; got != want {
			t.Errorf("href: got %q, want %q", got, want)
		}
		if got := attr(doc.Find("[sse-connect]"), "sse-connect"); got != "/environments/env_01/stream?after=2" {
			t.Errorf("the stream does not follow the newest event: %q", got)
		}
	})
	t.Run("logs load", func(t *testing.T) {
		logs := one(t, doc.Find("#logs"), "logs")
		if got, want := attr(logs, "hx-get"), "/environments/env_01/logs?service=web"; got != want {
			t.Errorf("hx-get: got %q, want %q", got, want)
		}
	})
	t.Run("flash", func(t *testing.T) {
		if got := byTestID(doc, "flash").Text(); !strings.Contains(got, "Extended by 1h") {
			t.Errorf("flash: got %q", got)
		}
		if byTestID(doc, "error-banner").Length() != 0 {
			t.Error("error banner without an error")
		}
	})
	t.Run("destroyed: no stream", func(t *testing.T) {
		d := d
		d.Env.Status, d.Env.Live, d.Env.CanDestroy = "destroyed", false, false
		doc := render(t, web.EnvironmentPage(page("environments"), d))
		if doc.Find("[sse-connect]").Length() != 0 {
			t.Error("a destroyed environment opens an SSE connection")
		}
	})
}

func TestEventRow(t *testing.T) {
	tests := []struct {
		name      string
		event     web.EventView
		wantBadge string
	}{
		{"status", web.EventView{ID: 7, At: now, Kind: "status", Status: "provisioning", Message: "Creating stack"}, "provisioning"},
		{"provider", web.EventView{ID: 8, At: now, Kind: "provider", Message: "web: listening on :41234"}, ""},
		{"action", web.EventView{ID: 9, At: now, Kind: "action", Message: "Extended by 1h", Actor: "ada"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, web.EventRow(tt.event))
			li := one(t, doc.Find("li"), "li")
			if got, want := attr(li, "data-kind"), tt.event.Kind; got != want {
				t.Errorf("kind: got %q, want %q", got, want)
			}
			if got := li.Find("[data-status]").Text(); got != tt.wantBadge {
				t.Errorf("badge: got %q, want %q", got, tt.wantBadge)
			}
			if got := byTestID(li, "event-message").Text(); got != tt.event.Message {
				t.Errorf("message: got %q, want %q", got, tt.event.Message)
			}
			if got := byTestID(li, "event-actor").Text(); got != tt.event.Actor {
				t.Errorf("actor: got %q, want %q", got, tt.event.Actor)
			}
			if got, want := li.Find("time").AttrOr("datetime", ""), "2026-03-14T15:00:00Z"; got != want {
				t.Errorf("time: got %q, want %q", got, want)
			}
		})
	}
}

func TestLogsPanel(t *testing.T) {
	tests := []struct {
		name     string
		view     web.LogsView
		wantPoll bool
	}{
		{"live", web.LogsView{EnvironmentID: "env_01", Service: "db", Services: []string{"web", "db"}, Text: "ready\n", Live: true}, true},
		{"finished", web.LogsView{EnvironmentID: "env_01", Service: "web", Services: []string{"web", "db"}, Text: "bye\n", Truncated: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, web.LogsPanel(tt.view))
			panel := one(t, doc.Find("#logs"), "#logs")
			if got := attr(panel, "hx-trigger") == "every 3s"; got != tt.wantPoll {
				t.Errorf("polls: got %v, want %v", got, tt.wantPoll)
			}
			if tt.wantPoll {
				if got, want := attr(panel, "hx-get"), "/environments/env_01/logs?service="+tt.view.Service; got != want {
					t.Errorf("hx-get: got %q, want %q", got, want)
				}
			}
			if got := byTestID(panel, "log-text").Text(); got != tt.view.Text {
				t.Errorf("text: got %q, want %q", got, tt.view.Text)
			}
			if got := byTestID(panel, "log-text").Is("pre"); !got {
				t.Error("log text is not preformatted")
			}
			for _, s := range tt.view.Services {
				tab := one(t, byTestID(panel, "logs-tab-"+s), "tab "+s)
				if got, want := attr(tab, "hx-get"), "/environments/env_01/logs?service="+s; got != want {
					t.Errorf("tab hx-get: got %q, want %q", got, want)
				}
				if got, want := attr(tab, "aria-selected"), map[bool]string{true: "true", false: "false"}[s == tt.view.Service]; got != want {
					t.Errorf("tab %s aria-selected: got %q, want %q", s, got, want)
				}
			}
			if got := byTestID(panel, "logs-truncated").Length() == 1; got != tt.view.Truncated {
				t.Errorf("truncated notice: got %v, want %v", got, tt.view.Truncated)
			}
		})
	}
}

func TestNoticesDismissable(t *testing.T) {
	for name, c := range map[string]templ.Component{"flash": web.Flash("Extended by 1h"), "error": web.ErrorBanner("No.")} {
		t.Run(name, func(t *testing.T) {
			doc := render(t, c)
			one(t, doc.Find("[data-dismissable] button[data-dismiss]"), "dismiss button")
		})
	}
	if got := renderString(t, web.ErrorBanner("")); got != "" {
		t.Errorf("empty banner: got %q, want nothing", got)
	}
}

func TestFlashOOB(t *testing.T) {
	doc := render(t, web.FlashOOB("", "Past the max TTL of 8h"))
	el := one(t, doc.Find("#flash"), "#flash")
	if got, want := attr(el, "hx-swap-oob"), "true"; got != want {
		t.Errorf("hx-swap-oob: got %q, want %q", got, want)
	}
	if got := byTestID(el, "error-banner").Text(); !strings.Contains(got, "Past the max TTL of 8h") {
		t.Errorf("banner: got %q", got)
	}
}

// TestEnvironmentSummaryRelaunch: "Launch again" is a link to the relaunch
// form, offered to those who may launch; a relaunched environment names
// its source.
func TestEnvironmentSummaryRelaunch(t *testing.T) {
	e := readyEnv()
	doc := render(t, web.EnvironmentSummary(e))
	if byTestID(doc, "relaunch-button").Length() != 0 || byTestID(doc, "lineage").Length() != 0 {
		t.Error("offers Launch again, or names a source, unasked")
	}
	e.Status, e.Live, e.CanDestroy, e.CanRelaunch, e.RelaunchedFrom = "destroyed", false, false, true, "env_00"
	doc = render(t, web.EnvironmentSummary(e))
	if got, want := attr(one(t, byTestID(doc, "relaunch-button"), "relaunch button"), "href"), "/environments/env_01/relaunch"; got != want {
		t.Errorf("Launch again links to %q, want %q", got, want)
	}
	if got := strings.Join(strings.Fields(byTestID(doc, "lineage").Text()), " "); got != "relaunched from env_00" {
		t.Errorf("lineage %q", got)
	}
	if got, want := attr(byTestID(doc, "relaunched-from"), "href"), "/environments/env_00"; got != want {
		t.Errorf("lineage links to %q, want %q", got, want)
	}
}

// A failed launch says what became of its stack: being cleaned up, kept
// for debugging until a time, or cleaned up at a time; the admin page's
// failure row says the same.
func TestFailedStackIsShown(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name        string
		cleaned     *time.Time
		held        *time.Time
		state, text string
	}{
		{"being cleaned up", nil, nil, "cleaning", "Its stack is being cleaned up."},
		{"held", nil, &at, "held", "kept for debugging until"},
		{"cleaned up", &at, &at, "cleaned", "Its stack was cleaned up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := readyEnv()
			e.Status, e.Live, e.FailureReason, e.StatusReason = "failed", false, "setup exited with status 3", "setup exited with status 3"
			e.StackCleanedAt, e.StackHeldUntil = tt.cleaned, tt.held
			for _, doc := range []*goquery.Document{
				render(t, web.EnvironmentSummary(e)),
				render(t, web.AdminPage(page("admin"), web.AdminView{Failures: []web.EnvironmentView{e}})),
			} {
				el := one(t, byTestID(doc, "failed-stack"), "failed stack")
				if got := attr(el, "data-stack"); got != tt.state {
					t.Errorf("data-stack: got %q, want %q", got, tt.state)
				}
				if !strings.Contains(el.Text(), tt.text) {
					t.Errorf("text: got %q, want it to say %q", el.Text(), tt.text)
				}
				if tt.state != "cleaning" {
					if got := attr(el.Find("time"), "datetime"); got != "2026-03-04T05:06:07Z" {
						t.Errorf("time: got %q", got)
					}
				}
			}
		})
	}
	ready := render(t, web.EnvironmentSummary(readyEnv()))
	if byTestID(ready, "failed-stack").Length() != 0 {
		t.Error("a ready environment speaks of a failed stack")
	}
}

// The replace form offers the versions a replace may build, the one in
// service selected and described as a fresh stack, a deprecated one
// marked; retired versions never reach it.
func TestReplaceFormOffersVersions(t *testing.T) {
	e := readyEnv()
	e.Stacks = web.StacksView{EnvironmentID: e.ID, CanReplace: true, Version: "1.2.0", Versions: []web.VersionChoice{
		{Version: "1.3.0"}, {Version: "1.2.0"}, {Version: "1.1.0", Deprecated: true}}}
	doc := render(t, web.EnvironmentSummary(e))
	opts := byTestID(doc, "replace-version").Find("option")
	var got []string
	opts.Each(func(_ int, o *goquery.Selection) {
		_, sel := o.Attr("selected")
		got = append(got, fmt.Sprintf("%s|%s|%v", attr(o, "value"), strings.TrimSpace(o.Text()), sel))
	})
	want := []string{"1.3.0|1.3.0|false", "1.2.0|1.2.0 (in service: a fresh stack)|true", "1.1.0|1.1.0 (deprecated)|false"}
	if !slices.Equal(got, want) {
		t.Errorf("options:\n got %q\nwant %q", got, want)
	}
}
