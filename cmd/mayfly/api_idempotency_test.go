package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// launchWithKey is POST /api/v1/environments with an Idempotency-Key.
func (s *testServer) launchWithKey(key string, body map[string]any) apiResponse {
	s.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", s.url+"/api/v1/environments", bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("launch with key %q: %v", key, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

// Issue 15 item 4: an Idempotency-Key on launch, on the real server.
func TestAPILaunchIdempotencyKey(t *testing.T) {
	s := startMain(t, testCatalog(t))
	body := map[string]any{"template": "slow-setup", "params": map[string]any{"setup_seconds": 60}, "ttl": "30m"}

	first := s.launchWithKey("pipeline-1", body)
	if first.Status != http.StatusAccepted {
		t.Fatalf("first launch: %d %s", first.Status, first.Body)
	}
	var e envJSON
	first.decode(t, &e)

	t.Run("the same key and request answer 200 with that environment", func(t *testing.T) {
		r := s.launchWithKey("pipeline-1", body)
		var got envJSON
		r.decode(t, &got)
		if r.Status != http.StatusOK || got.ID != e.ID || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("got %d %s (replayed %q), want 200 with %s", r.Status, got.ID, r.Header.Get("Idempotent-Replayed"), e.ID)
		}
		if loc := r.Header.Get("Location"); loc != "/api/v1/environments/"+e.ID {
			t.Errorf("Location = %q", loc)
		}
	})

	t.Run("bad keys and another request under the key are refused naming the header", func(t *testing.T) {
		other := map[string]any{"template": "slow-setup", "params": map[string]any{"setup_seconds": 61}, "ttl": "30m"}
		for _, tt := range []struct {
			name, key string
			body      map[string]any
		}{
			{"another request", "pipeline-1", other},
			{"256 characters", strings.Repeat("k", 256), body},
			{"a control character", "pipeline\t2", body},
		} {
			t.Run(tt.name, func(t *testing.T) {
				assertProblem(t, s.launchWithKey(tt.key, tt.body), http.StatusUnprocessableEntity, "Idempotency-Key")
			})
		}
		// 255 characters are fine.
		r := s.launchWithKey(strings.Repeat("k", 255), body)
		if r.Status != http.StatusAccepted {
			t.Fatalf("255-character key: %d %s", r.Status, r.Body)
		}
		var k envJSON
		r.decode(t, &k)
		s.destroyClean(k.ID)
	})

	t.Run("launches without a key are each a launch", func(t *testing.T) {
		a, b := s.launch(body), s.launch(body)
		if a.ID == b.ID {
			t.Errorf("two launches without a key gave one environment %s", a.ID)
		}
		s.destroyClean(a.ID)
		s.destroyClean(b.ID)
	})

	t.Run("a destroyed environment is still the answer", func(t *testing.T) {
		s.destroyClean(e.ID)
		r := s.launchWithKey("pipeline-1", body)
		var got envJSON
		r.decode(t, &got)
		if r.Status != http.StatusOK || got.ID != e.ID || got.Status != "destroyed" {
			t.Errorf("got %d %s %s, want 200 with %s destroyed", r.Status, got.ID, got.Status, e.ID)
		}
	})

	t.Run("20 launches at once with one key make one environment", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]apiResponse, 20)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = s.launchWithKey("pipeline-race", body)
			}()
		}
		wg.Wait()
		ids, created := map[string]bool{}, 0
		for _, r := range results {
			var got envJSON
			if err := json.Unmarshal(r.Body, &got); err != nil || got.ID == "" {
				t.Fatalf("launch: %d %s", r.Status, r.Body)
			}
			ids[got.ID] = true
			switch r.Status {
			case http.StatusAccepted:
				created++
			case http.StatusOK:
			default:
				t.Errorf("launch: %d %s", r.Status, r.Body)
			}
		}
		if len(ids) != 1 || created != 1 {
			t.Fatalf("%d environments, %d answers 202; want 1 and 1", len(ids), created)
		}
		var list struct{ Items []envJSON }
		s.api("GET", "/api/v1/environments?template=slow-setup&status=pending,provisioning,ready", nil).decode(t, &list)
		for _, it := range list.Items {
			if !ids[it.ID] {
				t.Errorf("another live environment %s (%s)", it.ID, it.Name)
			}
		}
		for id := range ids {
			s.destroyClean(id)
		}
	})

	t.Run("the command line sends --idempotency-key", func(t *testing.T) {
		args := []string{"env", "launch", "slow-setup", "--param", "setup_seconds=60", "--ttl", "30m", "--idempotency-key", "cli-pipeline-7", "--output", "json"}
		var got [2]envJSON
		for i := range got {
			code, out, errOut := mayflyCLI(t, s, args...)
			if code != 0 {
				t.Fatalf("run %d: exit %d: %s %s", i+1, code, out, errOut)
			}
			if err := json.Unmarshal([]byte(out), &got[i]); err != nil {
				t.Fatalf("run %d: %v\n%s", i+1, err, out)
			}
		}
		if got[0].ID == "" || got[0].ID != got[1].ID {
			t.Errorf("two runs with one key: %s and %s, want one environment", got[0].ID, got[1].ID)
		}
		s.destroyClean(got[0].ID)
	})
}
