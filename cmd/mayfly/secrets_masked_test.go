package main

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/aws/awstest"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// leakyTemplate quotes its secret token everywhere a stack can: a setup
// command line (its timeline label), a setup command's output (plain,
// URL-escaped and base64, in the log and, when it fails, in the failure
// reason), a service's log and an output.
const leakyTemplate = `name: leaky
version: 1.0.0
kind: demo
owner: tests
provider: local
ttl: {default: 1h, max: 2h}
parameters:
  - {name: token, type: string, secret: true, required: true}
  - {name: fail, type: bool, default: false}
stack:
  setup:
    - command: ["echo", "{{.Params.token}}"]
    - command: ["sh", "-c", 'echo "plain $1"; echo "url $2"; printf %s "$1" | base64; if [ "$3" = true ]; then exit 3; fi',
                "leak", "{{.Params.token}}", "{{urlquery .Params.token}}", "{{.Params.fail}}"]
  services:
    - name: web
      command: ["sh", "-c", 'printf %s "$MAYFLY_PARAM_TOKEN" | base64; echo; exec sleep 300']
      outputs: {url: "http://127.0.0.1:{{.Port}}/?token={{urlquery .Params.token}}"}
`

// TestSecretsMaskedInWhatProvidersSay launches a stack that quotes its
// secret everywhere, once failing and once ready, and looks for the secret
// (plain, URL-escaped, base64) in every answer about it and in the portal's
// own log lines: it is masked everywhere.
func TestSecretsMaskedInWhatProvidersSay(t *testing.T) {
	cfg, err := ParseConfig([]string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "debug",
		"--database-url", storagetest.URL(t), "--provision-attempts", "1"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, logs := runWithLogs(t, cfg)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(leakyTemplate)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}

	// Characters that URL-escaping and base64 change, none that JSON or
	// HTML escape (so a leak would show in the answers as it is).
	const secret = "Tr0ub4dor+3~horse"
	forms := map[string]string{"plain": secret, "URL-escaped": url.QueryEscape(secret),
		"base64": base64.StdEncoding.EncodeToString([]byte(secret)), "base64 unpadded": base64.RawStdEncoding.EncodeToString([]byte(secret))}

	failed := s.launch(map[string]any{"template": "leaky", "params": map[string]any{"token": secret, "fail": true}})
	ready := s.launch(map[string]any{"template": "leaky", "params": map[string]any{"token": secret}})
	got := s.waitCleaned(failed.ID, 30*time.Second)
	if !strings.Contains(got.FailureReason, "status 3") || !strings.Contains(got.FailureReason, "plain ***") {
		t.Errorf("failure reason = %q, want the command's output with the secret masked", got.FailureReason)
	}
	up := s.waitStatus(ready.ID, "ready", 30*time.Second)
	if u := up.Outputs["url"]; !strings.HasSuffix(u, "/?token=***") {
		t.Errorf("output url = %q, want the secret masked", u)
	}
	if !containsAny(s.events(ready.ID), "setup: echo *** finished") {
		t.Errorf("timeline = %q, want the command's label with the secret masked", s.events(ready.ID))
	}

	places := map[string]string{}
	for _, id := range []string{failed.ID, ready.ID} {
		for _, path := range []string{"/api/v1/environments/" + id, "/api/v1/environments/" + id + "/events",
			"/api/v1/environments/" + id + "/logs", "/environments/" + id, "/environments/" + id + "/logs?service=setup",
			"/environments/" + id + "/logs?service=web"} {
			r := s.do("GET", path, "", nil)
			if r.Status != http.StatusOK {
				t.Errorf("GET %s: %d", path, r.Status)
			}
			places[path] = string(r.Body)
		}
	}
	if l := places["/api/v1/environments/"+ready.ID+"/logs"]; !strings.Contains(l, "plain ***") || !strings.Contains(l, "url ***") {
		t.Errorf("the logs do not show the masked lines: %s", l)
	}
	s.destroyClean(ready.ID)
	places["portal log"] = logs.String()
	if !strings.Contains(logs.String(), "launch failed") {
		t.Fatal("the captured log lacks the failed launch: the logger was not captured")
	}
	for where, text := range places {
		for form, v := range forms {
			if strings.Contains(text, v) {
				i := strings.Index(text, v)
				t.Errorf("%s shows the secret %s (%q): …%s…", where, form, v, text[max(i-300, 0):min(i+100, len(text))])
			}
		}
	}
}

// TestAWSSecretsMaskedInStackEvents has CloudFormation quote a secret
// parameter in a failed resource's reason, at create and at delete: the
// timeline, the failure and status reasons and the log show it masked.
func TestAWSSecretsMaskedInStackEvents(t *testing.T) {
	fake := awstest.New(t)
	fake.Outputs = map[string]string{"url": "arn:aws:sns:eu-west-1:123456789012:demo"}
	s, logs := runWithLogs(t, awsConfig(t, fake.URL, t.TempDir()))
	tpl := strings.NewReplacer("name: aws-topic", "name: aws-vault", "    required: true\n",
		"    required: true\n  - {name: password, type: string, secret: true, required: true}\n",
		`Customer: "{{.Params.customer}}"`, `Customer: "{{.Params.customer}}", Password: "{{.Params.password}}"`,
		"      Customer: {Type: String}\n", "      Customer: {Type: String}\n      Password: {Type: String, NoEcho: true}\n").
		Replace(readFile(t, "testdata/aws-catalog/topic.yaml"))
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(tpl)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	const secret = "s3cret-Pa55word"
	params := map[string]any{"customer": "acme", "password": secret}

	fake.FailCreate("Queue", "Parameter Password value '"+secret+"' is not valid")
	failed := s.launch(map[string]any{"template": "aws-vault", "name": "broken", "params": params})
	got := s.waitCleaned(failed.ID, 20*time.Second)
	if !strings.Contains(got.FailureReason, "Parameter Password value '***' is not valid") {
		t.Errorf("failure reason = %q, want CloudFormation's reason with the secret masked", got.FailureReason)
	}

	fake.FailCreate("Queue", "")
	e := s.launch(map[string]any{"template": "aws-vault", "name": "stuck", "params": params})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	fake.FailDelete("Queue", "Queue is in use by "+base64.StdEncoding.EncodeToString([]byte(secret)))
	s.api("DELETE", "/api/v1/environments/"+e.ID, nil)
	stuck := s.waitStatus(e.ID, "destroy_failed", 20*time.Second)
	if !strings.Contains(stuck.StatusReason, "Queue is in use by ***") {
		t.Errorf("status reason = %q, want the secret masked", stuck.StatusReason)
	}

	places := map[string]string{}
	for _, id := range []string{failed.ID, e.ID} {
		for _, path := range []string{"/api/v1/environments/" + id, "/api/v1/environments/" + id + "/events", "/environments/" + id, "/admin"} {
			places[path] = string(s.do("GET", path, "", nil).Body)
		}
	}
	if !strings.Contains(places["/api/v1/environments/"+failed.ID+"/events"], "value '***' is not valid") {
		t.Errorf("the timeline lacks the masked stack event: %s", places["/api/v1/environments/"+failed.ID+"/events"])
	}
	places["portal log"] = logs.String()
	for where, text := range places {
		for _, v := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(text, v) {
				t.Errorf("%s shows the secret %q", where, v)
			}
		}
	}
}

// runWithLogs runs Main with cfg until the test ends, every log line at
// debug level captured.
func runWithLogs(t *testing.T, cfg Config) (*testServer, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	m := NewMain(cfg)
	m.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &testServer{Main: m, t: t, url: m.URL()}
	t.Cleanup(func() { m.Close(); s.destroyAll() })
	return s, logs
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
