package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// boundedTemplate is a local template whose first service's second
// argument is arg; it declares ten parameters with defaults, so .Params
// has ten entries at launch (and none in the sample data of publish).
func boundedTemplate(version, arg string) string {
	var params strings.Builder
	for i := range 10 {
		fmt.Fprintf(&params, "  - {name: p%d, type: string, default: x}\n", i)
	}
	return `name: runaway
version: ` + version + `
kind: demo
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
` + params.String() + `stack:
  services:
    - name: web
      command: ["sleep", '` + arg + `']
`
}

// TestTemplateWorkIsBounded publishes a template that would loop for ever
// and one that would render megabytes: each is refused at once with the
// field and the limit, while the server keeps answering. A version whose
// template loops only over the launch's real values fails its launch with
// the reason instead of holding a worker.
func TestTemplateWorkIsBounded(t *testing.T) {
	cfg, err := ParseConfig([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn",
		"--database-url", storagetest.URL(t), "--provision-attempts", "1"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := runTestMain(t, cfg)
	client := &http.Client{Timeout: 10 * time.Second}

	for _, tt := range []struct{ name, arg, want string }{
		{"a loop", `{{range 1000000000000}}{{end}}`, "the template loops or calls templates more than 100000 times"},
		{"megabytes", `{{range 90000}}0123456789{{end}}`, "the template renders more than 64 KiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan apiResponse, 1)
			start := time.Now()
			go func() {
				req, _ := http.NewRequest("POST", s.url+"/api/v1/templates", strings.NewReader(boundedTemplate("1.0.0", tt.arg)))
				req.Header.Set("Content-Type", "application/yaml")
				resp, err := client.Do(req)
				if err != nil {
					done <- apiResponse{}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				done <- apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
			}()
			if code, _, err := httpGet(s.url + "/healthz"); err != nil || code != http.StatusOK {
				t.Errorf("healthz while publishing: %d %v", code, err)
			}
			r := <-done
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("publish answered after %s, want within the 1s bound", took)
			}
			assertProblem(t, r, http.StatusUnprocessableEntity, "stack.services[0].command[1]")
			if !strings.Contains(string(r.Body), tt.want) {
				t.Errorf("the refusal does not say %q: %s", tt.want, r.Body)
			}
		})
	}

	nested := strings.Repeat("{{range $.Params}}", 6) + strings.Repeat("{{end}}", 6)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(boundedTemplate("1.0.0", nested))); r.Status != http.StatusCreated {
		t.Fatalf("publish a template that loops only at launch: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "runaway"})
	start := time.Now()
	got := s.waitCleaned(e.ID, 30*time.Second) // a failed launch stays failed; its stack is cleaned up
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the launch failed after %s", took)
	}
	want := "stack.services[0].command[1]: the template loops or calls templates more than 100000 times"
	if !strings.Contains(got.FailureReason, want) {
		t.Errorf("failure reason = %q, want it to say %q", got.FailureReason, want)
	}
	if code, _, err := httpGet(s.url + "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("healthz after the launch: %d %v", code, err)
	}
}

// TestPublishRefusesAliasAmplification publishes a 14 kB document whose
// aliases would make it 10 MB: refused with the line and field of the alias
// that passes the limit, and nothing is stored.
func TestPublishRefusesAliasAmplification(t *testing.T) {
	s := startMain(t, "")
	copies := strings.TrimSuffix(strings.Repeat("*blob, ", 1000), ", ")
	doc := strings.Replace(boundedTemplate("1.0.0", "1"), "stack:\n", "  - {name: size, type: enum, default: small, options: [small, &blob "+
		strings.Repeat("x", 10000)+"]}\n  - {name: colour, type: enum, options: ["+copies+"]}\nstack:\n", 1)
	r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(doc))
	assertProblem(t, r, http.StatusUnprocessableEntity, "parameters[11].options[418]")
	if !strings.Contains(string(r.Body), `"line":19`) || !strings.Contains(string(r.Body), "the alias *blob expands the document past 4194304 bytes") {
		t.Errorf("the refusal does not name the alias and its line: %s", r.Body)
	}
	if r := s.api("GET", "/api/v1/templates/runaway", nil); r.Status != http.StatusNotFound {
		t.Errorf("the template was stored: %d %s", r.Status, r.Body)
	}
}
