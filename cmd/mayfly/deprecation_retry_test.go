package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// A deprecation date's replace whose new stack fails, end to end on local
// stacks with the portal's clock moved by the test: the environment stays
// on the deprecated version, and its page and the API say why and when
// the next try is.
func TestDeprecationRetryShown(t *testing.T) {
	clock := &testClock{}
	cfg := localConfig(t, "--provision-attempts", "1")
	cfg.Clock = clock.Now
	s := runTestMain(t, cfg)
	for _, d := range []struct{ version, check string }{{"1.0.0", "true"}, {"1.1.0", "echo the migration failed >&2; false"}} {
		doc := strings.NewReplacer("VERSION", d.version, "PARAMS", "", "CHECK", d.check).Replace(typedParams)
		if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(doc)); r.Status != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", d.version, r.Status, r.Body)
		}
	}
	e := s.launch(map[string]any{"template": "typed-params", "version": "1.0.0", "name": "due-for-upgrade",
		"params": map[string]any{"greeting": "hola", "token": "s3cret"}})
	s.waitStatus(e.ID, "ready", 30*time.Second)
	date := clock.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	if r := s.api("POST", "/api/v1/templates/typed-params/versions/1.0.0/deprecate", map[string]any{"note": "upgrade", "date": date, "action": "replace"}); r.Status >= 300 {
		t.Fatalf("deprecate: %d %s", r.Status, r.Body)
	}
	clock.Add(2 * time.Minute)
	if n, err := s.Service.ActOnDueDeprecations(context.Background()); err != nil || n != 1 {
		t.Fatalf("at the date: queued %d, %v; want 1", n, err)
	}

	type deprecationJSON struct {
		State       string     `json:"state"`
		Target      string     `json:"target"`
		Attempts    int        `json:"attempts"`
		MaxAttempts int        `json:"max_attempts"`
		Reason      string     `json:"reason"`
		NextTryAt   *time.Time `json:"next_try_at"`
	}
	var got struct {
		Version     string           `json:"version"`
		Deprecation *deprecationJSON `json:"deprecation"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.api("GET", "/api/v1/environments/"+e.ID, nil).decode(t, &got)
		if d := got.Deprecation; d != nil && d.State == "waiting" && d.Attempts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deprecation %+v at the deadline, want a failed try waiting for the next", got.Deprecation)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d := got.Deprecation
	if got.Version != "1.0.0" || d.Target != "1.1.0" || d.MaxAttempts != 5 || !strings.Contains(d.Reason, "the replace with 1.1.0 failed") {
		t.Errorf("after the failed try: version %s, deprecation %+v", got.Version, d)
	}
	if want := clock.Now().Add(10 * time.Minute); d.NextTryAt == nil || d.NextTryAt.Sub(want).Abs() > 30*time.Second {
		t.Errorf("next try at %v, want about %v (the first backoff)", d.NextTryAt, want)
	}

	code, page, err := httpGet(s.url + "/environments/" + e.ID)
	if err != nil || code != http.StatusOK {
		t.Fatalf("environment page: %d %v", code, err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	line := doc.Find(`[data-testid="deprecation-progress"]`)
	text := strings.Join(strings.Fields(line.Text()), " ")
	if !strings.Contains(text, "not replaced yet: the replace with 1.1.0 failed") || !strings.Contains(text, "(attempt 1 of 5)") ||
		line.Find(`[data-testid="deprecation-next-try"] time`).Length() != 1 {
		t.Errorf("the page's deprecation line %q, want why (the failed replace), the attempt and the next try", text)
	}
}
