package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// startAWSMain runs the real portal with the aws provider pointed at a fake
// CloudFormation the way a user points it at LocalStack: the SDK's standard
// variables (endpoint, static credentials, region), and --aws on.
func startAWSMain(t *testing.T, extra ...string) (*testServer, *awstest.Server) {
	t.Helper()
	fake := awstest.New(t)
	fake.Outputs = map[string]string{"url": "arn:aws:sns:eu-west-1:123456789012:demo"}
	return startAWSPortal(t, fake.URL, extra...), fake
}

// startAWSPortal runs the portal with AWS at endpoint.
func startAWSPortal(t *testing.T, endpoint string, extra ...string) *testServer {
	t.Helper()
	return runTestMain(t, awsConfig(t, endpoint, t.TempDir(), extra...))
}

// awsConfig sets the SDK's variables for the endpoint and parses the
// portal's configuration as the binary does.
func awsConfig(t *testing.T, endpoint, dataDir string, extra ...string) Config {
	t.Helper()
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":      endpoint,
		"AWS_ACCESS_KEY_ID":     "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_REGION":            "eu-west-1",
		// No shared files from the machine running the tests.
		"AWS_CONFIG_FILE":             filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_PROFILE":                 "",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn",
		"--database-url", storagetest.URL(t), "--reaper-sweep-interval", "1s", "--catalog-dir", filepath.Join("testdata", "aws-catalog")}, extra...)
	cfg, err := ParseConfig(args, os.Getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AWS.Enabled {
		t.Fatal("AWS_REGION set: the aws provider should be on")
	}
	return cfg
}

func TestAWSLaunchReadyDestroyed(t *testing.T) {
	s, fake := startAWSMain(t)
	e := s.launch(map[string]any{"template": "aws-topic", "name": "demo", "params": map[string]any{"customer": "acme"}})
	e = s.waitStatus(e.ID, "ready", 20*time.Second)
	if got, want := e.Outputs["url"], "arn:aws:sns:eu-west-1:123456789012:demo"; got != want {
		t.Errorf("output url: got %q, want %q", got, want)
	}
	stacks := fake.Stacks()
	if len(stacks) != 1 {
		t.Fatalf("got %d stacks, want 1", len(stacks))
	}
	st := stacks[0]
	if st.Tags[mfaws.TagEnvironment] != e.ID || !strings.HasPrefix(st.Tags[mfaws.TagInstance], "mfi-") || st.Params["Customer"] != "acme" {
		t.Errorf("stack tags %v, params %v", st.Tags, st.Params)
	}
	msgs := s.events(e.ID)
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "Topic AWS::SNS::Topic CREATE_COMPLETE") }) {
		t.Errorf("timeline lacks the stack events: %q", msgs)
	}
	if n := countContaining(msgs, "Queue AWS::SQS::Queue CREATE_COMPLETE"); n != 1 {
		t.Errorf("stack event copied %d times, want once: %q", n, msgs)
	}
	// Each stack event is in the timeline at CloudFormation's time for it
	// (the time its line begins with), not the time of the poll that saw it.
	stackEvents := 0
	for _, ev := range s.timeline(e.ID) {
		stamp, _, ok := strings.Cut(ev.Message, " ")
		if ev.Kind != "provider" || !ok || !strings.HasSuffix(stamp, "Z") || !strings.Contains(ev.Message, "AWS::") {
			continue
		}
		stackEvents++
		if got := ev.At.UTC().Format("15:04:05.000Z"); got != stamp {
			t.Errorf("%q recorded at %s, want CloudFormation's %s", ev.Message, got, stamp)
		}
	}
	if stackEvents < 3 {
		t.Errorf("%d stack events in the timeline, want the stack's and each resource's", stackEvents)
	}
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 20*time.Second)
	if got := fake.Stacks()[0].Status; got != "DELETE_COMPLETE" {
		t.Errorf("stack after destroy: %s", got)
	}
}

func TestAWSDestroyFailedThenRetainRetry(t *testing.T) {
	s, fake := startAWSMain(t)
	e := s.launch(map[string]any{"template": "aws-topic", "name": "stuck", "params": map[string]any{"customer": "acme"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	fake.FailDelete("Queue", "Queue is in use by a subscription")
	s.api("DELETE", "/api/v1/environments/"+e.ID, nil)
	failed := s.waitStatus(e.ID, "destroy_failed", 20*time.Second)
	if !strings.Contains(failed.StatusReason, "Queue (AWS::SQS::Queue): Queue is in use") {
		t.Errorf("reason %q does not name the resource and why", failed.StatusReason)
	}
	if failed.DestroyGivenUp {
		t.Error("destroy_given_up after the first failure; it is still retried")
	}
	// The admin page offers the retry on the failure.
	status, body, err := httpGet(s.url + "/admin")
	if err != nil || status != http.StatusOK {
		t.Fatalf("admin: %d %v", status, err)
	}
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	if doc.Find(`[data-testid="failure-stuck"] [data-testid="retry-destroy"]`).Length() != 1 {
		t.Error("the admin page offers no retry for the failed destroy")
	}
	r := s.api("POST", "/api/v1/environments/"+e.ID+"/retry-destroy", map[string]any{"retain": []string{"Queue"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("retry-destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 20*time.Second)
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/retry-destroy", nil); r.Status != http.StatusConflict {
		t.Errorf("retry of a destroyed environment: %d, want 409", r.Status)
	}
	if msgs := s.events(e.ID); countContaining(msgs, "retaining Queue") != 1 {
		t.Errorf("timeline lacks the retry: %q", msgs)
	}
}

// A destroy that fails on its last attempt is given up, and says so in the
// API, until an admin retries it.
func TestAWSDestroyGivenUp(t *testing.T) {
	s, fake := startAWSMain(t, "--destroy-attempts", "1")
	e := s.launch(map[string]any{"template": "aws-topic", "name": "stuck", "params": map[string]any{"customer": "acme"}})
	s.waitStatus(e.ID, "ready", 20*time.Second)
	fake.FailDelete("Queue", "Queue is in use by a subscription")
	s.api("DELETE", "/api/v1/environments/"+e.ID, nil)
	failed := s.waitStatus(e.ID, "destroy_failed", 20*time.Second)
	if !failed.DestroyGivenUp || !strings.Contains(failed.StatusReason, "gave up after 1 attempts") {
		t.Errorf("destroy_given_up %v, reason %q; want it given up after 1 attempt", failed.DestroyGivenUp, failed.StatusReason)
	}
	if r := s.api("POST", "/api/v1/environments/"+e.ID+"/retry-destroy", map[string]any{"retain": []string{"Queue"}}); r.Status != http.StatusAccepted {
		t.Fatalf("retry-destroy: %d %s", r.Status, r.Body)
	}
	if done := s.waitStatus(e.ID, "destroyed", 20*time.Second); done.DestroyGivenUp {
		t.Error("destroy_given_up on a destroyed environment")
	}
}

func TestAWSLaunchFailsAndIsCleanedUp(t *testing.T) {
	s, fake := startAWSMain(t)
	fake.FailCreate("Queue", "Resource handler returned message: \"Access Denied\"")
	e := s.launch(map[string]any{"template": "aws-topic", "name": "broken", "params": map[string]any{"customer": "acme"}})
	// The launch stays failed with its reason; its stack is deleted.
	got := s.waitCleaned(e.ID, 20*time.Second)
	if !strings.Contains(got.FailureReason, "Access Denied") || !strings.Contains(got.FailureReason, "Queue") {
		t.Errorf("failure reason %q", got.FailureReason)
	}
	if got := fake.Stacks()[0].Status; got != "DELETE_COMPLETE" {
		t.Errorf("failed stack not deleted: %s", got)
	}
}

func countContaining(msgs []string, sub string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// A portal that stops mid-provision and starts again finds its stack by
// its handle, and the timeline gets each stack event once.
func TestAWSRestartMidProvision(t *testing.T) {
	fake := awstest.New(t)
	fake.Step = 500 * time.Millisecond // polls are 1s apart: still creating at the restart
	cfg := awsConfig(t, fake.URL, t.TempDir())
	m := NewMain(cfg)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &testServer{Main: m, t: t, url: m.URL()}
	e := s.launch(map[string]any{"template": "aws-topic", "name": "restarted", "params": map[string]any{"customer": "a"}})
	deadline := time.Now().Add(10 * time.Second)
	for countContaining(s.events(e.ID), "Topic AWS::SNS::Topic CREATE_IN_PROGRESS") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.env(e.ID).Status; st != "provisioning" {
		t.Fatalf("before the restart: %s, want provisioning", st)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := NewMain(cfg)
	if err := m2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Close() })
	s2 := &testServer{Main: m2, t: t, url: m2.URL()}
	s2.waitStatus(e.ID, "ready", 20*time.Second)
	if stacks := fake.Stacks(); len(stacks) != 1 || !strings.HasSuffix(stacks[0].Token, "-launch-1") {
		t.Errorf("stacks after the restart: %+v; want one, of attempt 1 (a re-run is the same attempt)", stacks)
	}
	msgs := s2.events(e.ID)
	for _, want := range []string{"Topic AWS::SNS::Topic CREATE_IN_PROGRESS", "Topic AWS::SNS::Topic CREATE_COMPLETE",
		"Queue AWS::SQS::Queue CREATE_COMPLETE", "AWS::CloudFormation::Stack CREATE_COMPLETE"} {
		if n := countContaining(msgs, want); n != 1 {
			t.Errorf("%q in the timeline %d times, want once: %q", want, n, msgs)
		}
	}
}
