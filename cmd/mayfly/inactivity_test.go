package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// idleShop is the sample demo-shop with an inactivity policy and a TTL
// long enough for it to matter.
func idleShop(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile("../../catalog/demo-shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(src), "name: demo-shop", "name: idle-shop", 1)
	doc = strings.Replace(doc, "ttl:\n  default: 2h\n  max: 8h\n", "ttl:\n  default: 24h\n  max: 48h\ninactivity: {idle: 8h, warn_before: 1h}\n", 1)
	if !strings.Contains(doc, "inactivity:") {
		t.Fatal("demo-shop.yaml changed: no ttl block to put the inactivity policy after")
	}
	return []byte(doc)
}

// startIdleShop runs the portal on a clock the test moves, with idle-shop
// published and one environment of it ready.
func startIdleShop(t *testing.T) (*testServer, *testClock, envJSON) {
	t.Helper()
	clock := &testClock{}
	cfg := localConfig(t)
	cfg.Clock = clock.Now
	s := runTestMain(t, cfg)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", idleShop(t)); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("publish idle-shop: %d %s", r.Status, r.Body)
	}
	e := s.launch(map[string]any{"template": "idle-shop", "name": "idle-demo", "params": map[string]any{"customer": "Hooli"}})
	return s, clock, s.waitStatus(e.ID, "ready", 60*time.Second)
}

type lifecycleJSON struct {
	LastActiveAt  time.Time  `json:"last_active_at"`
	LastActiveVia string     `json:"last_active_via"`
	Idle          string     `json:"idle"`
	IdleUntil     *time.Time `json:"idle_until"`
	StopAt        *time.Time `json:"stop_at"`
	Override      string     `json:"override"`
	ScheduleFrom  string     `json:"schedule_from"`
}

func (s *testServer) lifecycle(id string) lifecycleJSON {
	s.t.Helper()
	r := s.api("GET", "/api/v1/environments/"+id+"/lifecycle", nil)
	if r.Status != http.StatusOK {
		s.t.Fatalf("lifecycle of %s: %d %s", id, r.Status, r.Body)
	}
	var l lifecycleJSON
	r.decode(s.t, &l)
	return l
}

// TestInactivityThroughTheProxy: the proxy link reaches the shop (in a
// sandbox, without Mayfly's cookies), its traffic moves the idle deadline,
// and the environment is destroyed 8h after its last use, not 8h after
// its launch.
func TestInactivityThroughTheProxy(t *testing.T) {
	s, clock, e := startIdleShop(t)
	ctx := context.Background()
	run := func() {
		t.Helper()
		if err := s.Service.RunLifecycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	launched := s.lifecycle(e.ID)
	if launched.Idle != "8h" || launched.IdleUntil == nil {
		t.Fatalf("lifecycle at launch: %+v, want an 8h idle deadline", launched)
	}

	clock.Add(time.Hour)
	req, _ := http.NewRequest("GET", s.url+"/e/"+e.ID+"/", nil)
	req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: "not-for-the-shop"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1<<16)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body[:n]), "Hooli") {
		t.Fatalf("GET /e/%s/: %d %.200s, want the shop for Hooli", e.ID, resp.StatusCode, body[:n])
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") {
		t.Errorf("proxied CSP %q, want a sandbox", csp)
	}
	if r := s.do("GET", "/e/env-nope/", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("proxy to an environment that does not exist: %d", r.Status)
	}
	run()
	l := s.lifecycle(e.ID)
	if l.LastActiveVia != "proxy" || l.IdleUntil == nil || !l.IdleUntil.After(launched.IdleUntil.Add(59*time.Minute)) {
		t.Fatalf("after the proxied request: %+v, want active via proxy and the deadline an hour later than %s", l, launched.IdleUntil)
	}

	clock.Add(7*time.Hour + 30*time.Minute) // past launch + 8h, before the proxied request + 8h
	run()
	if got := s.env(e.ID); got.Status != "ready" {
		t.Fatalf("8h30m after launch, 7h30m after use: %s, want ready", got.Status)
	}
	if !containsAny(s.events(e.ID), "Inactive for 7h") {
		t.Errorf("no inactivity warning: %q", s.events(e.ID))
	}
	clock.Add(31 * time.Minute)
	run()
	s.waitStatus(e.ID, "destroyed", 30*time.Second)
	if !containsAny(s.events(e.ID), "Inactive for 8h") {
		t.Errorf("no inactivity destroy on the timeline: %q", s.events(e.ID))
	}
	assertNoProcesses(t, e.ID)
	if r := s.do("GET", "/e/"+e.ID+"/", "", nil); r.Status != http.StatusConflict {
		t.Errorf("proxy to a destroyed environment: %d, want 409", r.Status)
	}
}

// TestScheduleAPI: an environment's schedule is set, refused with the
// field at fault, and turned off through the API.
func TestScheduleAPI(t *testing.T) {
	s, _, e := startIdleShop(t)
	r := s.api("PUT", "/api/v1/environments/"+e.ID+"/schedule", map[string]any{"mode": "custom", "stop": "0 19 * * MON-FRI", "start": "0 8 * * MON-FRI", "tz": "Europe/Paris"})
	if r.Status != http.StatusOK {
		t.Fatalf("set schedule: %d %s", r.Status, r.Body)
	}
	var l lifecycleJSON
	r.decode(t, &l)
	if l.Override != "custom" || l.ScheduleFrom != "environment" || l.StopAt == nil {
		t.Errorf("after set: %+v", l)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if l.StopAt != nil && l.StopAt.In(paris).Hour() != 19 {
		t.Errorf("next stop %s, want 19:00 in Paris", l.StopAt)
	}
	r = s.api("PUT", "/api/v1/environments/"+e.ID+"/schedule", map[string]any{"mode": "custom", "stop": "0 19 * * MON-FRI", "start": "0 8 * * MON-FRI", "tz": "Paris"})
	assertProblem(t, r, http.StatusUnprocessableEntity, "tz")
	r = s.api("PUT", "/api/v1/teams/shop/schedule", map[string]any{"stop": "0 19 * * *", "start": "0 8 * * *", "tz": "UTC"})
	if r.Status != http.StatusOK {
		t.Fatalf("set team schedule: %d %s", r.Status, r.Body)
	}
	if r := s.api("GET", "/api/v1/teams/shop/schedule", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"tz":"UTC"`) {
		t.Errorf("team schedule: %d %s", r.Status, r.Body)
	}
	if r := s.do("GET", "/teams/shop/schedule", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `value="0 19 * * *"`) {
		t.Errorf("team schedule page: %d, want the team's stop in its form", r.Status)
	}
	if r := s.do("POST", "/teams/shop/schedule", "application/x-www-form-urlencoded", []byte("mode=custom&stop=0+20+*+*+*&start=0+8+*+*+*&tz=Asia%2FTokyo")); r.Status != http.StatusOK {
		t.Errorf("team schedule form: %d %.300s", r.Status, r.Body) // the redirect is followed to the page
	}
	if r := s.api("GET", "/api/v1/teams/shop/schedule", nil); !strings.Contains(string(r.Body), `"tz":"Asia/Tokyo"`) {
		t.Errorf("after the form: %s", r.Body)
	}
	r = s.api("PUT", "/api/v1/environments/"+e.ID+"/schedule", map[string]any{"mode": "off"})
	var off lifecycleJSON
	r.decode(t, &off)
	if r.Status != http.StatusOK || off.Override != "off" || off.StopAt != nil {
		t.Errorf("schedule off: %d %+v", r.Status, off)
	}
}
