package web_test

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/web"
)

func TestCatalogPage(t *testing.T) {
	replica := web.TemplateView{
		Name: "shop-replica", Kind: "replica", Owner: "platform", Provider: "aws",
		Latest:   web.VersionView{Version: "3.0.0", Digest: "sha256:abcdef01", DefaultTTL: "4h", MaxTTL: "24h", KeepFailedStack: "30m"},
		Versions: []web.VersionView{{Version: "3.0.0", Digest: "sha256:abcdef01", DefaultTTL: "4h", MaxTTL: "24h"}},
	}
	drill := web.TemplateView{Name: "prod-dr", Kind: "dr", Latest: web.VersionView{Version: "1.0.0"}, Versions: []web.VersionView{{Version: "1.0.0"}}}
	doc := render(t, web.CatalogPage(page("catalog"), []web.TemplateView{demoTemplate(), replica, drill}))

	tests := []struct {
		name, kind, launch, digest, ttl string
		older                           int
	}{
		{"crm-demo", "demo", "/templates/crm-demo/launch", "sha256:1a2b3c4d", "2h", 2},
		{"shop-replica", "replica", "/templates/shop-replica/launch", "sha256:abcdef01", "4h", 0},
		{"prod-dr", "dr", "/templates/prod-dr/launch", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := one(t, byTestID(doc, "template-"+tt.name), "card")
			if got := one(t, card.Find("[data-kind]"), "kind badge").AttrOr("data-kind", ""); got != tt.kind {
				t.Errorf("kind: got %q, want %q", got, tt.kind)
			}
			if got := attr(byTestID(card, "launch-"+tt.name), "href"); got != tt.launch {
				t.Errorf("launch: got %q, want %q", got, tt.launch)
			}
			if got := byTestID(card, "latest-digest").Text(); got != tt.digest {
				t.Errorf("digest: got %q, want %q", got, tt.digest)
			}
			if got := byTestID(card, "ttl").Text(); got != tt.ttl {
				t.Errorf("ttl: got %q, want %q", got, tt.ttl)
			}
			if got := byTestID(card, "older-versions").Find("li").Length(); got != tt.older {
				t.Errorf("older versions: got %d, want %d", got, tt.older)
			}
		})
	}

	t.Run("distinct kind colours", func(t *testing.T) {
		seen := map[string]string{}
		doc.Find("[data-kind]").Each(func(_ int, s *goquery.Selection) {
			seen[attr(s, "class")] = attr(s, "data-kind")
		})
		if len(seen) != 3 {
			t.Errorf("kind badge classes: got %d distinct, want 3", len(seen))
		}
	})
	t.Run("older versions", func(t *testing.T) {
		card := byTestID(doc, "template-crm-demo")
		older := byTestID(card, "version-1.1.0")
		if got, want := attr(older.Find("a"), "href"), "/templates/crm-demo/launch?version=1.1.0"; got != want {
			t.Errorf("older launch: got %q, want %q", got, want)
		}
		deprecated := byTestID(card, "version-1.0.0")
		one(t, byTestID(deprecated, "deprecated"), "deprecated marker")
		if deprecated.Find("a").Length() != 0 {
			t.Error("a deprecated version can be launched")
		}
	})
	t.Run("card details", func(t *testing.T) {
		card := byTestID(doc, "template-crm-demo")
		for id, want := range map[string]string{"owner": "sales-eng", "provider": "local", "description": "A CRM seeded with demo data."} {
			if got := byTestID(card, id).Text(); got != want {
				t.Errorf("%s: got %q, want %q", id, got, want)
			}
		}
		if !strings.Contains(card.Text(), "up to 8h") {
			t.Error("max TTL missing")
		}
	})
	t.Run("on_failure.keep_stack", func(t *testing.T) {
		if got, want := strings.TrimSpace(byTestID(byTestID(doc, "template-shop-replica"), "keep-failed-stack").Text()), "keeps a failed stack 30m"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if byTestID(byTestID(doc, "template-crm-demo"), "keep-failed-stack").Length() != 0 {
			t.Error("a template without on_failure says it keeps failed stacks")
		}
	})
}

func TestCatalogPageEmpty(t *testing.T) {
	doc := render(t, web.CatalogPage(page("catalog"), nil))
	one(t, byTestID(doc, "catalog-empty"), "empty state")
	if byTestID(doc, "catalog").Length() != 0 {
		t.Error("an empty catalog renders a list")
	}
}
