package web_test

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/web"
)

func launchForm() web.LaunchForm {
	t := demoTemplate()
	return web.LaunchForm{Template: t, Version: t.Latest, Name: "crm-demo-x1y2z3"}
}

func TestLaunchPageForm(t *testing.T) {
	doc := render(t, web.LaunchPage(page("catalog"), launchForm()))
	form := one(t, byTestID(doc, "launch-form"), "launch form")
	if got, want := attr(form, "method"), "post"; got != want {
		t.Errorf("method: got %q, want %q", got, want)
	}
	if got, want := attr(form, "action"), "/templates/crm-demo/launch"; got != want {
		t.Errorf("action: got %q, want %q", got, want)
	}
	if got, want := strings.TrimSpace(byTestID(form, "launch-submit").Text()), "Launch"; got != want {
		t.Errorf("submit: got %q, want %q", got, want)
	}
	// The handler fills in a generated name; an emptied field gets one at
	// launch, so the browser must not refuse it.
	name := one(t, form.Find(`input[name="name"]`), "name input")
	if hasAttr(name, "required") {
		t.Error("name input is required: an empty name means a generated one")
	}
	if got, want := attr(name, "value"), launchForm().Name; got != want {
		t.Errorf("name value: got %q, want %q", got, want)
	}
}

func TestLaunchPageParamInputs(t *testing.T) {
	doc := render(t, web.LaunchPage(page("catalog"), launchForm()))
	form := byTestID(doc, "launch-form")

	tests := []struct {
		name      string
		selector  string // the one element of the field, by name
		wantTag   string
		wantType  string
		wantAttrs map[string]string
	}{
		{"string with pattern", `[name="params.customer"]`, "input", "text", map[string]string{"pattern": `[a-z][a-z0-9\-]*` /* escaped for the browser's v flag */, "value": "acme", "required": ""}},
		{"int with bounds", `[name="params.seats"]`, "input", "number", map[string]string{"min": "1", "max": "50", "value": "5"}},
		{"bool", `[name="params.seed"]`, "input", "checkbox", map[string]string{"value": "true", "checked": ""}},
		{"enum", `[name="params.region"]`, "select", "", map[string]string{"required": ""}},
		{"secret", `[name="params.api_key"]`, "input", "password", map[string]string{"required": ""}},
		{"ttl", `[name="ttl"]`, "input", "text", map[string]string{"placeholder": "2h", "value": "2h"}},
		{"version", `[name="version"]`, "select", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			el := one(t, form.Find(tt.selector+`:not([type="hidden"])`), tt.selector)
			if got := goquery.NodeName(el); got != tt.wantTag {
				t.Errorf("tag: got %q, want %q", got, tt.wantTag)
			}
			if got := attr(el, "type"); got != tt.wantType {
				t.Errorf("type: got %q, want %q", got, tt.wantType)
			}
			for k, want := range tt.wantAttrs {
				got, ok := el.Attr(k)
				if !ok {
					t.Errorf("attribute %s missing", k)
				} else if got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			// The label points at the input.
			id := attr(el, "id")
			if id == "" || form.Find(`label[for="`+id+`"]`).Length() != 1 {
				t.Errorf("no label for %q", id)
			}
		})
	}

	t.Run("one field per parameter", func(t *testing.T) {
		for _, p := range params() {
			if n := form.Find(`[name="params.` + p.Name + `"]:not([type="hidden"])`).Length(); n != 1 {
				t.Errorf("%s: got %d inputs, want 1", p.Name, n)
			}
			one(t, byTestID(form, "field-params."+p.Name), "field "+p.Name)
		}
	})
	t.Run("unticked checkbox sends false", func(t *testing.T) {
		inputs := form.Find(`[name="params.seed"]`)
		if inputs.Length() != 2 {
			t.Fatalf("got %d inputs, want a hidden one and the checkbox", inputs.Length())
		}
		hidden, box := inputs.Eq(0), inputs.Eq(1)
		if attr(hidden, "type") != "hidden" || attr(hidden, "value") != "false" || attr(box, "type") != "checkbox" {
			t.Errorf("got %s=%q then %s, want hidden=\"false\" then the checkbox (the last value wins)", attr(hidden, "type"), attr(hidden, "value"), attr(box, "type"))
		}
	})
	t.Run("changing the version swaps what depends on it", func(t *testing.T) {
		sel := form.Find(`select[name="version"]`)
		for k, want := range map[string]string{"hx-get": "/templates/crm-demo/launch", "hx-swap": "none", "hx-trigger": "change"} {
			if got := attr(sel, k); got != want {
				t.Errorf("%s: got %q, want %q", k, got, want)
			}
		}
		for _, id := range strings.Split(attr(sel, "hx-select-oob"), ",") {
			one(t, doc.Find(id), id)
		}
	})
	t.Run("enum options, default selected", func(t *testing.T) {
		sel := form.Find(`select[name="params.region"] option[selected]`)
		if got, want := attr(sel, "value"), "us-east-1"; got != want {
			t.Errorf("selected: got %q, want %q", got, want)
		}
		if got, want := form.Find(`select[name="params.region"] option`).Length(), 2; got != want {
			t.Errorf("options: got %d, want %d", got, want)
		}
	})
	t.Run("versions: deprecated ones left out", func(t *testing.T) {
		var got []string
		form.Find(`select[name="version"] option`).Each(func(_ int, s *goquery.Selection) {
			got = append(got, attr(s, "value"))
		})
		if want := []string{"1.2.0", "1.1.0"}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("versions: got %v, want %v", got, want)
		}
		if got, want := attr(form.Find(`select[name="version"] option[selected]`), "value"), "1.2.0"; got != want {
			t.Errorf("selected version: got %q, want %q", got, want)
		}
	})
	t.Run("ttl help names the max", func(t *testing.T) {
		if got := byTestID(form, "field-ttl").Text(); !strings.Contains(got, "max 8h") {
			t.Errorf("ttl help: got %q, want it to contain %q", got, "max 8h")
		}
	})
	t.Run("required marker and description", func(t *testing.T) {
		field := byTestID(form, "field-params.customer")
		if !strings.Contains(field.Find("label").Text(), "*") {
			t.Error("required parameter has no marker")
		}
		if !strings.Contains(field.Text(), "Who the demo is for.") {
			t.Error("description missing")
		}
	})
}

func TestLaunchPageSecretNeverPrefilled(t *testing.T) {
	f := launchForm()
	f.Params = map[string]string{"api_key": "hunter2", "customer": "globex"}
	html := renderString(t, web.LaunchPage(page("catalog"), f))
	if strings.Contains(html, "hunter2") {
		t.Fatal("the secret's value is in the page")
	}
	doc := render(t, web.LaunchPage(page("catalog"), f))
	secret := one(t, doc.Find(`[name="params.api_key"]`), "secret input")
	if hasAttr(secret, "value") {
		t.Errorf("secret input has a value attribute: %q", attr(secret, "value"))
	}
	if got, want := attr(doc.Find(`[name="params.customer"]`), "value"), "globex"; got != want {
		t.Errorf("submitted value: got %q, want %q", got, want)
	}
}

func TestLaunchPageCheckbox(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   bool
	}{
		{"first display: default", nil, true},
		{"submitted checked", map[string]string{"seed": "true"}, true},
		{"submitted unchecked", map[string]string{"customer": "x"}, false},
		{"submitted false", map[string]string{"seed": "false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := launchForm()
			f.Params = tt.params
			doc := render(t, web.LaunchPage(page("catalog"), f))
			if got := hasAttr(doc.Find(`[name="params.seed"][type="checkbox"]`), "checked"); got != tt.want {
				t.Errorf("checked: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLaunchPageErrors(t *testing.T) {
	f := launchForm()
	f.Params = map[string]string{}
	f.Errors = map[string]string{
		"name":            "name is taken",
		"ttl":             "exceeds the max TTL of 8h",
		"params.customer": "does not match [a-z][a-z0-9-]*",
		"params.seats":    "must be at most 50",
		"template":        "unknown key",
	}
	f.General = "Launch refused: quota reached."
	doc := render(t, web.LaunchPage(page("catalog"), f))

	tests := []struct {
		key   string
		input string
	}{
		{"name", `[name="name"]`},
		{"ttl", `[name="ttl"]`},
		{"params.customer", `[name="params.customer"]`},
		{"params.seats", `[name="params.seats"]`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			field := one(t, byTestID(doc, "field-"+tt.key), "field")
			msg := one(t, byTestID(field, "error-"+tt.key), "error under the field")
			if got, want := strings.TrimSpace(msg.Text()), f.Errors[tt.key]; got != want {
				t.Errorf("message: got %q, want %q", got, want)
			}
			input := field.Find(tt.input)
			if got, want := attr(input, "aria-invalid"), "true"; got != want {
				t.Errorf("aria-invalid: got %q, want %q", got, want)
			}
			if !strings.Contains(attr(input, "aria-describedby"), attr(msg, "id")) {
				t.Errorf("aria-describedby %q does not name the error %q", attr(input, "aria-describedby"), attr(msg, "id"))
			}
		})
	}
	t.Run("fields without error", func(t *testing.T) {
		if hasAttr(doc.Find(`[name="params.region"]`), "aria-invalid") {
			t.Error("region is marked invalid")
		}
		if byTestID(doc, "error-params.region").Length() != 0 {
			t.Error("region shows an error")
		}
	})
	t.Run("first invalid field gets the focus", func(t *testing.T) {
		if !hasAttr(doc.Find(`[name="name"]`), "autofocus") {
			t.Error("name has no autofocus")
		}
		if n := doc.Find("[autofocus]").Length(); n != 1 {
			t.Errorf("autofocus: got %d elements, want 1", n)
		}
	})
	t.Run("general banner", func(t *testing.T) {
		if got := byTestID(doc, "error-banner").Text(); !strings.Contains(got, f.General) {
			t.Errorf("banner: got %q", got)
		}
	})
	t.Run("errors of unknown fields are not dropped", func(t *testing.T) {
		if got := byTestID(doc, "error-other").Text(); !strings.Contains(got, "unknown key") {
			t.Errorf("other errors: got %q", got)
		}
	})
}

// TestLaunchPageRelaunch: a relaunch's form posts (and fetches other
// versions) at the relaunch URL, says where it starts from, asks for a
// secret only when it is not re-used, and offers the same snapshot only
// when there is one.
func TestLaunchPageRelaunch(t *testing.T) {
	tests := []struct {
		name         string
		relaunch     web.RelaunchView
		required     bool
		help         string
		sameSnapshot bool
	}{
		{"the owner re-uses the secret", web.RelaunchView{ReusedSecrets: []string{"api_key"}}, false, "Leave it empty to re-use the value of crm-1.", false},
		{"another must type it again", web.RelaunchView{RetypeSecrets: []string{"api_key"}}, true, "type it again", false},
		{"with a snapshot to restore again", web.RelaunchView{Snapshot: "crm/20261123"}, true, "API key", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := launchForm()
			f.Params = map[string]string{"customer": "globex"}
			rv := tt.relaunch
			rv.SourceID, rv.SourceName = "env-abc", "crm-1"
			f.Relaunch = &rv
			doc := render(t, web.LaunchPage(page("environments"), f))
			form := one(t, byTestID(doc, "launch-form"), "launch form")
			if got, want := attr(form, "action"), "/environments/env-abc/relaunch"; got != want {
				t.Errorf("action: got %q, want %q", got, want)
			}
			if got, want := attr(form.Find(`select[name="version"]`), "hx-get"), "/environments/env-abc/relaunch"; got != want {
				t.Errorf("version change fetches %q, want %q", got, want)
			}
			if got := attr(byTestID(doc, "relaunch-source"), "href"); got != "/environments/env-abc" {
				t.Errorf("notice links to %q", got)
			}
			secret := one(t, form.Find(`[name="params.api_key"]`), "secret input")
			if got := hasAttr(secret, "required"); got != tt.required {
				t.Errorf("secret required: got %v, want %v", got, tt.required)
			}
			if help := byTestID(form, "field-params.api_key").Text(); !strings.Contains(help, tt.help) {
				t.Errorf("secret help %q, want %q", strings.TrimSpace(help), tt.help)
			}
			box := form.Find(`input[name="same_snapshot"][type="checkbox"]`)
			if got := box.Length() == 1; got != tt.sameSnapshot {
				t.Errorf("same snapshot offered: %v, want %v", got, tt.sameSnapshot)
			}
			if tt.sameSnapshot && !strings.Contains(byTestID(form, "field-same_snapshot").Text(), "crm/20261123") {
				t.Error("the same snapshot box does not name the snapshot")
			}
			if got := attr(form.Find(`[name="params.customer"]`), "value"); got != "globex" {
				t.Errorf("prefilled customer %q", got)
			}
		})
	}
}

// A secret field says it must be typed again only when the form came back
// refused, not on the first display.
func TestLaunchPageSecretRetypeNote(t *testing.T) {
	const note = "Secrets are not sent back to the browser"
	f := launchForm()
	f.Params = map[string]string{"customer": "globex"} // the defaults, as on a first display
	if html := renderString(t, web.LaunchPage(page("catalog"), f)); strings.Contains(html, note) {
		t.Error("the first display asks to enter a secret again")
	}
	f.Errors = map[string]string{"params.customer": "is required"}
	if html := renderString(t, web.LaunchPage(page("catalog"), f)); !strings.Contains(html, note) {
		t.Error("a refused form does not say that the secret must be entered again")
	}
}
