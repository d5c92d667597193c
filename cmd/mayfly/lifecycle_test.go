package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// The provisioning pipeline through the real server: a destroy interrupts
// a long setup step (on this replica and from another), the timeline shows
// each step as it happens, and a failed launch stays visible while its
// stack is cleaned up (at once, or after the template's debug hold).

type eventJSON struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
}

func (s *testServer) timeline(id string) []eventJSON {
	s.t.Helper()
	var out struct {
		Items []eventJSON `json:"items"`
	}
	r := s.api("GET", "/api/v1/environments/"+id+"/events", nil)
	if r.Status != http.StatusOK {
		s.t.Fatalf("events of %s: %d %s", id, r.Status, r.Body)
	}
	r.decode(s.t, &out)
	return out.Items
}

// waitEvent polls the timeline until an event containing substr is in it.
func (s *testServer) waitEvent(id, substr string, timeout time.Duration) []eventJSON {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := s.timeline(id)
		for _, e := range evs {
			if strings.Contains(e.Message, substr) {
				return evs
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q in the timeline of %s within %s: %+v", substr, id, timeout, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCleaned waits until a launch has failed and its stack was cleaned
// up, and checks it is still failed.
func (s *testServer) waitCleaned(id string, timeout time.Duration) envJSON {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e := s.env(id)
		if e.StackCleanedAt != nil {
			if e.Status != "failed" {
				s.t.Fatalf("%s: status %s once its stack was cleaned up, want failed", id, e.Status)
			}
			return e
		}
		if e.Status == "destroyed" || time.Now().After(deadline) {
			s.t.Fatalf("%s: status %s (%q), stack not cleaned up; want failed with its stack cleaned up", id, e.Status, e.FailureReason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// provisioningLine matches what a provider reports while it builds a stack.
var provisioningLine = regexp.MustCompile(`^(Stack created|setup: |service |restored snapshot|verify passed)`)

// checkNothingBuiltAfterDestroy checks a destroyed environment's timeline:
// after "Destroy requested" no line says the stack was built further, and
// "Destroyed" ends it.
func checkNothingBuiltAfterDestroy(t *testing.T, evs []eventJSON) {
	t.Helper()
	requested := -1
	for i, e := range evs {
		switch {
		case strings.HasPrefix(e.Message, "Destroy requested"):
			requested = i
		case requested >= 0 && e.Kind == "provider" && provisioningLine.MatchString(e.Message):
			t.Errorf("%q after the destroy was requested: %+v", e.Message, evs)
		}
	}
	if requested < 0 || evs[len(evs)-1].Message != "Destroyed" {
		t.Errorf("timeline %+v: want the destroy request and Destroyed last", evs)
	}
}

// A destroy during a 20 s setup step kills it: the environment is
// destroyed within seconds (it waited for the step's end, ~17 s more), no
// process is left, and nothing of the stack is reported after the request.
func TestDestroyInterruptsSetup(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "slow-setup", "name": "long-setup", "params": map[string]any{"setup_seconds": 20}})
	s.waitEvent(e.ID, "setup: sleep 20 started", 20*time.Second)
	requested := time.Now()
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	s.waitStatus(e.ID, "destroyed", 20*time.Second)
	if took := time.Since(requested); took > 5*time.Second {
		t.Errorf("destroyed %s after the request, want within a few seconds", took.Round(time.Millisecond))
	}
	t.Logf("destroyed %s after the request, during a 20s setup step", time.Since(requested).Round(time.Millisecond))
	assertNoProcesses(t, e.ID)
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "stacks", e.ID)); !os.IsNotExist(err) {
		t.Errorf("stack directory still exists: %v", err)
	}
	checkNothingBuiltAfterDestroy(t, s.timeline(e.ID))
}

// On PostgreSQL the replica running the setup step is not the one that
// takes the destroy request: it hears of it through the database.
func TestDestroyOnAnotherReplicaInterruptsSetup(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if !storagetest.Postgres() {
		t.Skip("several replicas need PostgreSQL (set " + storagetest.EnvVar + "; make test does)")
	}
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	a := startPortal(t, dataDir, dbURL, freeAddr(t), "--job-timeout", "1m", "--rescue-after", "2m")
	t.Cleanup(a.kill)
	e := a.server().launch(map[string]any{"template": "slow-setup", "name": "elsewhere", "params": map[string]any{"setup_seconds": 20}})
	a.server().waitEvent(e.ID, "setup: sleep 20 started", 20*time.Second)
	// Started only now, b cannot be the replica running the step.
	b := startPortal(t, dataDir, dbURL, freeAddr(t), "--job-timeout", "1m", "--rescue-after", "2m")
	t.Cleanup(b.kill)
	requested := time.Now()
	if r := b.server().api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy on b: %d %s", r.Status, r.Body)
	}
	b.server().waitStatus(e.ID, "destroyed", 30*time.Second)
	if took := time.Since(requested); took > 6*time.Second {
		t.Errorf("destroyed %s after the request to the other replica, want within a few seconds", took.Round(time.Millisecond))
	}
	waitNoProcessesOf(t, e.ID)
	checkNothingBuiltAfterDestroy(t, b.server().timeline(e.ID))
}

// Each step is in the timeline when it happens, with its time: the setup
// step's start is on the live stream (and in the API) while it still runs,
// and the steps' times increase with the real gaps between them.
func TestTimelineIsLive(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "slow-setup", "name": "live-steps", "params": map[string]any{"setup_seconds": 4}})
	resp, lines := openStream(t, s.url+"/environments/"+e.ID+"/stream")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	timeout := time.After(20 * time.Second)
	for started := false; !started; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			started = strings.Contains(l, "setup: sleep 4 started")
		case <-timeout:
			t.Fatal("the setup step's start did not reach the stream within 20s")
		}
	}
	if got := s.env(e.ID).Status; got != "provisioning" {
		t.Fatalf("status %s when the setup step's start was streamed, want provisioning", got)
	}
	evs := s.timeline(e.ID)
	msgs := make([]string, len(evs))
	for i, ev := range evs {
		msgs[i] = ev.Message
	}
	if containsAny(msgs, "setup: sleep 4 finished") || !containsAny(msgs, "Stack created: "+e.ID) || !containsAny(msgs, "restored snapshot") {
		t.Fatalf("while the setup runs the timeline is %q: want the stack and the restore, not the setup's end", msgs)
	}

	s.waitStatus(e.ID, "ready", 60*time.Second)
	at := map[string]time.Time{}
	var last time.Time
	for _, ev := range s.timeline(e.ID) {
		if ev.At.Before(last) {
			t.Errorf("%q at %s, before the line above it (%s)", ev.Message, ev.At, last)
		}
		last = ev.At
		for _, step := range []string{"Stack created", "setup: sleep 4 started", "setup: sleep 4 finished", "service web started", "service web healthy", "Ready"} {
			if strings.HasPrefix(ev.Message, step) {
				at[step] = ev.At
			}
		}
	}
	if len(at) != 6 {
		t.Fatalf("steps seen: %v, want all six", at)
	}
	if took := at["setup: sleep 4 finished"].Sub(at["setup: sleep 4 started"]); took < 3500*time.Millisecond || took > 10*time.Second {
		t.Errorf("the 4s setup step took %s between its lines, want its real run time", took)
	}
	if at["service web started"].Before(at["setup: sleep 4 finished"]) || at["service web healthy"].Before(at["service web started"]) {
		t.Errorf("steps out of order: %v", at)
	}
	s.destroyClean(e.ID)
}

// A failed launch stays failed, listed under Failed and on the admin page
// with its reason, its logs kept, while its stack is cleaned up at once;
// destroying it then needs no provider and its TTL ends it likewise.
func TestFailedLaunchStaysVisible(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "crashing", "name": "crashed"})
	got := s.waitCleaned(e.ID, 30*time.Second)
	if !strings.Contains(got.FailureReason, `service "web" exited with status 3`) || got.StackHeldUntil != nil {
		t.Errorf("failure reason %q, held until %v; want the crash, no hold", got.FailureReason, got.StackHeldUntil)
	}
	assertNoProcesses(t, e.ID)
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "stacks", e.ID)); !os.IsNotExist(err) {
		t.Errorf("the failed stack's directory is still there: %v", err)
	}
	if r := s.api("GET", "/api/v1/environments/"+e.ID+"/logs?service=web", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "the web server crashed") {
		t.Errorf("logs of the failed launch: %d %s", r.Status, r.Body)
	}
	var list struct {
		Items []envJSON `json:"items"`
	}
	s.api("GET", "/api/v1/environments?status=failed", nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != e.ID {
		t.Errorf("API failed listing: %+v", list.Items)
	}
	page := func(path string) *goquery.Document {
		t.Helper()
		code, body, err := httpGet(s.url + path)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, code, err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	tab := page("/environments?status=failed")
	if row := tab.Find(`[data-testid="env-row-crashed"]`); row.Length() != 1 || row.AttrOr("data-status", "") != "failed" {
		t.Errorf("the Failed tab does not list the failed launch")
	}
	if n := strings.TrimSpace(tab.Find(`[data-testid="tab-failed"] span`).Text()); n != "1" {
		t.Errorf("the Failed tab counts %q, want 1", n)
	}
	// "Live" means pending, provisioning or ready, in its count and in its
	// list alike: the failed launch is under Failed only.
	live := page("/environments")
	if live.Find(`[data-testid="env-row-crashed"]`).Length() != 0 {
		t.Error("the Live tab lists the failed launch")
	}
	if n, rows := strings.TrimSpace(live.Find(`[data-testid="tab-live"] span`).Text()), live.Find(`[data-testid^="env-row-"]`).Length(); n != strconv.Itoa(rows) {
		t.Errorf("the Live tab counts %s but lists %d", n, rows)
	}
	admin := page("/admin").Find(`[data-testid="failure-crashed"]`)
	if admin.Length() != 1 || !strings.Contains(admin.Find(`[data-testid="reason"]`).Text(), "exited with status 3") ||
		admin.Find(`[data-testid="failed-stack"]`).AttrOr("data-stack", "") != "cleaned" {
		t.Errorf("the admin page's failure row: %q", admin.Text())
	}
	if notice := page("/environments/" + e.ID).Find(`[data-testid="failed-stack"]`); notice.AttrOr("data-stack", "") != "cleaned" {
		t.Errorf("the environment page does not say the stack was cleaned up: %q", notice.Text())
	}
	for _, want := range []string{"Launch failed", "Cleaning up the failed launch's stack", "Stack cleaned up"} {
		if !containsAny(s.events(e.ID), want) {
			t.Errorf("timeline lacks %q: %q", want, s.events(e.ID))
		}
	}

	// The name is free for the next try at once.
	again := s.launch(map[string]any{"template": "crashing", "name": "crashed", "ttl": "5s"})
	if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	if got := s.env(e.ID); got.Status != "destroyed" || got.FailureReason == "" {
		t.Errorf("after the destroy: %s (reason %q), want destroyed at once, the reason kept", got.Status, got.FailureReason)
	}
	if !containsAny(s.events(e.ID), "Destroyed on request of") {
		t.Errorf("timeline: %q", s.events(e.ID))
	}
	// The second one expires after its failure: the reaper closes it.
	s.waitCleaned(again.ID, 30*time.Second)
	s.waitStatus(again.ID, "destroyed", 30*time.Second)
	if !containsAny(s.events(again.ID), "Destroyed: TTL expired") {
		t.Errorf("timeline: %q", s.events(again.ID))
	}
}

// A template's on_failure.keep_stack keeps the failed stack, processes and
// work directory, that long for debugging: the API and the page say until
// when, the catalog says the template does it; then it is cleaned up.
func TestFailedStackHeldForDebugging(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "held-failure", "name": "held"})
	var got envJSON
	for deadline := time.Now().Add(30 * time.Second); ; {
		if got = s.env(e.ID); got.Status == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s, want failed", got.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.StackHeldUntil == nil || time.Until(*got.StackHeldUntil) < 2*time.Second || time.Until(*got.StackHeldUntil) > 6*time.Second {
		t.Fatalf("stack_held_until %v, want about 5s from now", got.StackHeldUntil)
	}
	if got.StackCleanedAt != nil || len(local.Processes(e.ID)) == 0 {
		t.Errorf("the stack was not kept: cleaned up at %v, processes %v", got.StackCleanedAt, local.Processes(e.ID))
	}
	if _, err := os.Stat(filepath.Join(s.Config.DataDir, "stacks", e.ID)); err != nil {
		t.Errorf("the held stack's directory: %v", err)
	}
	code, body, _ := httpGet(s.url + "/environments/" + e.ID)
	if code != http.StatusOK || !strings.Contains(body, `data-stack="held"`) || !strings.Contains(body, "kept for debugging until") {
		t.Errorf("the environment page does not say the stack is kept until when: %d", code)
	}
	if code, body, _ := httpGet(s.url + "/catalog"); code != http.StatusOK || !strings.Contains(body, "keeps a failed stack 5s") {
		t.Errorf("the catalog does not show keep_stack: %d", code)
	}
	var tpl struct {
		Versions []struct {
			OnFailure *struct {
				KeepStack string `json:"keep_stack"`
			} `json:"on_failure"`
		} `json:"versions"`
	}
	s.api("GET", "/api/v1/templates/held-failure", nil).decode(t, &tpl)
	if len(tpl.Versions) != 1 || tpl.Versions[0].OnFailure == nil || tpl.Versions[0].OnFailure.KeepStack != "5s" {
		t.Errorf("API template: %+v, want on_failure.keep_stack 5s", tpl)
	}

	cleaned := s.waitCleaned(e.ID, 30*time.Second)
	if cleaned.StackCleanedAt.Before(*cleaned.StackHeldUntil) {
		t.Errorf("cleaned up at %s, before the hold ended at %s", cleaned.StackCleanedAt, cleaned.StackHeldUntil)
	}
	assertNoProcesses(t, e.ID)
}
