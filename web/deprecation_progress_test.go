package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/web"
)

// After its deprecation date, the environment page says why the
// environment is still on the deprecated version and when the next try is.
func TestDeprecationProgress(t *testing.T) {
	next := time.Date(2027, 1, 15, 9, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		progress *web.DeprecationProgressView
		want     []string // in the line's text
		nextTry  bool
	}{
		{"none", nil, nil, false},
		{"a failed replace waits", &web.DeprecationProgressView{Action: "replace", State: "waiting", Target: "1.3.0",
			Attempts: 1, MaxAttempts: 5, Reason: "the replace with 1.3.0 failed: quota exceeded", NextAt: &next},
			[]string{"not replaced yet: the replace with 1.3.0 failed: quota exceeded (attempt 1 of 5)", "Next try"}, true},
		{"a refused destroy waits", &web.DeprecationProgressView{Action: "destroy", State: "waiting", Attempts: 2, MaxAttempts: 5,
			Reason: "environment x is locked", NextAt: &next}, []string{"not destroyed yet: environment x is locked (attempt 2 of 5)"}, true},
		{"replacing after a failure", &web.DeprecationProgressView{Action: "replace", State: "replacing", Target: "1.3.0", Attempts: 2,
			MaxAttempts: 5, Reason: "quota exceeded"}, []string{"replacing it with 1.3.0 (attempt 2 of 5)", "The try before failed: quota exceeded."}, false},
		{"given up", &web.DeprecationProgressView{Action: "replace", State: "gave_up", Attempts: 5, MaxAttempts: 5, Reason: "quota exceeded"},
			[]string{"could not be replaced: quota exceeded", "gave up after 5 attempts; replace it by hand"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := readyEnv()
			e.VersionDeprecated, e.DeprecationProgress = true, c.progress
			doc := render(t, web.EnvironmentSummary(e))
			line := byTestID(doc, "deprecation-progress")
			if c.progress == nil {
				if line.Length() != 0 {
					t.Fatalf("got a progress line %q, want none", line.Text())
				}
				return
			}
			text := strings.Join(strings.Fields(one(t, line, "deprecation-progress").Text()), " ")
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("got %q, want it to say %q", text, w)
				}
			}
			if got, want := attr(line, "data-state"), c.progress.State; got != want {
				t.Errorf("data-state: got %q, want %q", got, want)
			}
			tm := byTestID(line, "deprecation-next-try").Find("time")
			if c.nextTry != (tm.Length() == 1) {
				t.Fatalf("next try shown: %v, want %v", tm.Length() == 1, c.nextTry)
			}
			if c.nextTry && attr(tm, "datetime") != "2027-01-15T09:30:00Z" {
				t.Errorf("next try datetime %q", attr(tm, "datetime"))
			}
		})
	}
}
