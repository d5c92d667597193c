package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

type sseMessage struct {
	ID, Event, Data string
}

// readSSE reads a JSON event stream of an environment from after until it
// ends, calling each for every message.
func readSSE(t *testing.T, s *testServer, id string, after int64, each func(sseMessage)) []sseMessage {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/api/v1/environments/"+id+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseMessage
	var m sseMessage
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m.Event != "" {
				out = append(out, m)
				each(m)
			}
			m = sseMessage{}
		case strings.HasPrefix(line, "id: "):
			m.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			m.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			m.Data += strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

// Issue 15 item 4: the API's JSON event stream, live, resumable, and ending
// when the environment is destroyed.
func TestAPIEventStream(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "slow-setup", "name": "stream-one", "params": map[string]any{"setup_seconds": 1}})
	destroyed := false
	msgs := readSSE(t, s, e.ID, 0, func(m sseMessage) {
		var ev struct{ Status string }
		if m.Event == "event" && json.Unmarshal([]byte(m.Data), &ev) == nil && ev.Status == "ready" && !destroyed {
			destroyed = true
			if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
				t.Errorf("destroy: %d %s", r.Status, r.Body)
			}
		}
	})
	if !destroyed {
		t.Fatalf("the stream ended without a ready event: %v", msgs)
	}
	if last := msgs[len(msgs)-1]; last.Event != "end" {
		t.Fatalf("the stream's last message is %+v, want end", last)
	}
	var ids []int64
	var statuses []string
	for _, m := range msgs[:len(msgs)-1] {
		var ev struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		}
		if m.Event != "event" || json.Unmarshal([]byte(m.Data), &ev) != nil || strconv.FormatInt(ev.ID, 10) != m.ID {
			t.Fatalf("message %+v is not a JSON event with its id", m)
		}
		if len(ids) > 0 && ev.ID <= ids[len(ids)-1] {
			t.Errorf("event ids not increasing: %v then %d", ids, ev.ID)
		}
		ids = append(ids, ev.ID)
		if ev.Status != "" {
			statuses = append(statuses, ev.Status)
		}
	}
	if statuses[0] != "pending" || statuses[len(statuses)-1] != "destroyed" {
		t.Errorf("statuses %v, want pending ... destroyed", statuses)
	}

	t.Run("Last-Event-ID resumes after that event", func(t *testing.T) {
		again := readSSE(t, s, e.ID, ids[1], func(sseMessage) {})
		if len(again) != len(ids)-2+1 || again[0].ID != strconv.FormatInt(ids[2], 10) || again[len(again)-1].Event != "end" {
			t.Errorf("resumed after %d: got %+v, want events from %d then end", ids[1], again, ids[2])
		}
	})
	t.Run("a bad Last-Event-ID names it", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.url+"/api/v1/environments/"+e.ID+"/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", "x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("status %d, want 422", resp.StatusCode)
		}
	})
}
