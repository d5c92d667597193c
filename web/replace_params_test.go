package web_test

import (
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/web"
)

// The replace form's parameters are the launch form's fields: typed,
// prefilled, a secret a password field that never shows a value and may be
// left empty to keep it, a refused value's error under its field.
func TestReplaceParams(t *testing.T) {
	form := func(errs map[string]string) web.ReplaceParamsView {
		return web.ReplaceParamsView{Form: web.LaunchForm{
			Version: web.VersionView{Version: "1.1.0", Params: []web.ParamView{
				{Name: "greeting", Type: "string"},
				{Name: "token", Type: "string", Secret: true, Required: true},
				{Name: "replicas", Type: "int", Default: "2"},
			}},
			Params:   map[string]string{"greeting": "hola", "token": "s3cret", "replicas": "9"},
			Relaunch: &web.RelaunchView{SourceName: "the stack in service", ReusedSecrets: []string{"token"}},
			Errors:   errs,
		}}
	}
	tests := []struct {
		name      string
		errs      map[string]string
		wantError string // the replicas field's error ("": none)
	}{
		{name: "first display"},
		{name: "refused", errs: map[string]string{"params.replicas": "must be at most 5"}, wantError: "must be at most 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, web.ReplaceParams(form(tt.errs)))
			if got := attr(byTestID(doc, "replace-params"), "data-version"); got != "1.1.0" {
				t.Errorf("data-version %q, want 1.1.0", got)
			}
			if got := attr(doc.Find(`input[name="params.greeting"]`), "value"); got != "hola" {
				t.Errorf("greeting %q, want hola", got)
			}
			token := doc.Find(`input[name="params.token"]`)
			if attr(token, "type") != "password" {
				t.Errorf("token input type %q, want password", attr(token, "type"))
			}
			if _, ok := token.Attr("value"); ok || strings.Contains(doc.Text(), "s3cret") {
				t.Error("the secret's value is sent back to the browser")
			}
			if _, ok := token.Attr("required"); ok {
				t.Error("a kept secret is required")
			}
			if got := doc.Find("#launch-params-token-help").Text(); !strings.Contains(got, "Leave it empty") {
				t.Errorf("token help %q, want it to say an empty field keeps it", got)
			}
			replicas := doc.Find(`input[name="params.replicas"]`)
			if attr(replicas, "type") != "number" || attr(replicas, "value") != "9" {
				t.Errorf("replicas input %s=%s, want number=9", attr(replicas, "type"), attr(replicas, "value"))
			}
			got := strings.TrimSpace(doc.Find("#launch-params-replicas-error").Text())
			if got != tt.wantError {
				t.Errorf("replicas error %q, want %q", got, tt.wantError)
			}
			if _, invalid := replicas.Attr("aria-invalid"); invalid != (tt.wantError != "") {
				t.Errorf("replicas aria-invalid %v, want %v", invalid, tt.wantError != "")
			}
		})
	}
}
