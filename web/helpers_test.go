package web_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/mayflyhq/mayfly/web"
)

// now is the fixed clock of the fixtures.
var now = time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)

// render renders c and parses the result.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// renderString renders c to a string.
func renderString(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.String()
}

// byTestID finds the elements with a data-testid under s.
func byTestID(s interface {
	Find(string) *goquery.Selection
}, id string) *goquery.Selection {
	return s.Find(`[data-testid="` + id + `"]`)
}

// one asserts that sel holds exactly one element.
func one(t *testing.T, sel *goquery.Selection, what string) *goquery.Selection {
	t.Helper()
	if n := sel.Length(); n != 1 {
		t.Fatalf("%s: got %d elements, want 1", what, n)
	}
	return sel
}

func attr(sel *goquery.Selection, name string) string {
	v, _ := sel.Attr(name)
	return v
}

func hasAttr(sel *goquery.Selection, name string) bool {
	_, ok := sel.Attr(name)
	return ok
}

func ptr[T any](v T) *T { return &v }

func page(nav string) web.Page {
	return web.Page{Title: "Test", Nav: nav, User: web.UserView{Name: "Ada Lovelace"}, Now: now}
}

// Fixtures.

func params() []web.ParamView {
	return []web.ParamView{
		{Name: "customer", Label: "Customer", Description: "Who the demo is for.", Type: "string", Required: true, Pattern: "[a-z][a-z0-9-]*", Default: "acme"},
		{Name: "seats", Type: "int", Min: ptr[int64](1), Max: ptr[int64](50), Default: "5"},
		{Name: "seed", Label: "Seed demo data", Type: "bool", Default: "true"},
		{Name: "region", Type: "enum", Options: []string{"eu-west-1", "us-east-1"}, Default: "us-east-1", Required: true},
		{Name: "api_key", Label: "API key", Type: "string", Secret: true, Required: true},
	}
}

func versions() []web.VersionView {
	return []web.VersionView{
		{Version: "1.2.0", Digest: "sha256:1a2b3c4d", DefaultTTL: "2h", MaxTTL: "8h", PublishedAt: now.Add(-48 * time.Hour), Params: params()},
		{Version: "1.1.0", Digest: "sha256:99aa88bb", DefaultTTL: "2h", MaxTTL: "8h", PublishedAt: now.Add(-480 * time.Hour)},
		{Version: "1.0.0", Digest: "sha256:00ff00ff", DefaultTTL: "1h", MaxTTL: "4h", Deprecated: true},
	}
}

func demoTemplate() web.TemplateView {
	vs := versions()
	return web.TemplateView{
		Name: "crm-demo", Kind: "demo", Description: "A CRM seeded with demo data.",
		Owner: "sales-eng", Provider: "local", Latest: vs[0], Versions: vs,
	}
}

func readyEnv() web.EnvironmentView {
	return web.EnvironmentView{
		ID: "env_01", Name: "acme-demo", Owner: "ada", Team: "sales",
		Template: "crm-demo", Kind: "demo", Version: "1.2.0", Status: "ready",
		Outputs: []web.OutputView{
			{Name: "url", Value: "http://127.0.0.1:41234/", IsURL: true},
			{Name: "db", Value: "postgres://127.0.0.1:5433/crm"},
			{Name: "evil", Value: "javascript:alert(1)", IsURL: true},
		},
		Params: []web.ParamValueView{
			{Name: "customer", Value: "acme"},
			{Name: "api_key", Secret: true, Value: "hunter2-must-not-show"},
		},
		CreatedAt:     now.Add(-30 * time.Minute),
		ReadyAt:       ptr(now.Add(-29 * time.Minute)),
		ExpiresAt:     now.Add(64 * time.Minute),
		MaxExpiresAt:  now.Add(7 * time.Hour),
		Live:          true,
		CanDestroy:    true,
		ExtendOptions: []string{"30m", "1h", "2h"},
	}
}

func docFromString(t *testing.T, html string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}
