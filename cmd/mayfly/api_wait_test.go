package main

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 15 item 4: ?name= lookup, typed parameter values and the ?wait=
// long-poll, on the real server.
func TestAPIWaitNameAndTypedParams(t *testing.T) {
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "slow-setup", "name": "wait-ready", "params": map[string]any{"setup_seconds": 1}})

	r := s.api("GET", "/api/v1/environments/"+e.ID+"?wait=ready&timeout=60s", nil)
	var got envJSON
	r.decode(t, &got)
	if r.Status != http.StatusOK || r.Header.Get("Mayfly-Wait") != "reached" || got.Status != "ready" {
		t.Fatalf("wait=ready: %d, Mayfly-Wait %q, status %q", r.Status, r.Header.Get("Mayfly-Wait"), got.Status)
	}
	if v, ok := got.Params["setup_seconds"].(float64); !ok || v != 1 {
		t.Errorf("params.setup_seconds = %#v, want the number 1", got.Params["setup_seconds"])
	}

	t.Run("name finds exactly that environment", func(t *testing.T) {
		s.launch(map[string]any{"template": "slow-setup", "name": "wait-ready-2", "params": map[string]any{"setup_seconds": 1}})
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"?name=wait-ready", []string{e.ID}},
			{"?name=wait-ready&template=slow-setup&status=ready", []string{e.ID}},
			{"?name=wait-ready&template=held-failure", nil},
			{"?name=wait", nil},
		} {
			var list struct{ Items []envJSON }
			s.api("GET", "/api/v1/environments"+tt.query, nil).decode(t, &list)
			var ids []string
			for _, it := range list.Items {
				ids = append(ids, it.ID)
			}
			if len(ids) != len(tt.want) || (len(ids) == 1 && ids[0] != tt.want[0]) {
				t.Errorf("%s: got %v, want %v", tt.query, ids, tt.want)
			}
		}
	})

	t.Run("a failed launch is unreachable, not a timeout", func(t *testing.T) {
		f := s.launch(map[string]any{"template": "never-healthy", "name": "wait-failed"})
		r := s.api("GET", "/api/v1/environments/"+f.ID+"?wait=ready", nil)
		var got envJSON
		r.decode(t, &got)
		if r.Header.Get("Mayfly-Wait") != "unreachable" || got.Status != "failed" || got.FailureReason == "" {
			t.Errorf("Mayfly-Wait %q, status %q, failure %q; want unreachable, failed, a reason", r.Header.Get("Mayfly-Wait"), got.Status, got.FailureReason)
		}
	})

	t.Run("a timeout says so", func(t *testing.T) {
		slow := s.launch(map[string]any{"template": "slow-setup", "name": "wait-slow", "params": map[string]any{"setup_seconds": 60}})
		r := s.api("GET", "/api/v1/environments/"+slow.ID+"?wait=ready&timeout=1s", nil)
		var got envJSON
		r.decode(t, &got)
		if r.Header.Get("Mayfly-Wait") != "timeout" || got.Status == "ready" {
			t.Errorf("Mayfly-Wait %q, status %q; want timeout while provisioning", r.Header.Get("Mayfly-Wait"), got.Status)
		}
		s.destroyClean(slow.ID)
	})

	t.Run("wait=destroyed", func(t *testing.T) {
		if r := s.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
			t.Fatalf("destroy: %d %s", r.Status, r.Body)
		}
		r := s.api("GET", "/api/v1/environments/"+e.ID+"?wait=destroyed", nil)
		var got envJSON
		r.decode(t, &got)
		if r.Header.Get("Mayfly-Wait") != "reached" || got.Status != "destroyed" {
			t.Errorf("Mayfly-Wait %q, status %q", r.Header.Get("Mayfly-Wait"), got.Status)
		}
	})

	t.Run("bad wait and timeout name the field", func(t *testing.T) {
		for _, tt := range []struct{ query, field string }{
			{"?wait=soon", "wait"}, {"?wait=ready&timeout=later", "timeout"}, {"?timeout=5s", "timeout"},
		} {
			r := s.api("GET", "/api/v1/environments/"+e.ID+tt.query, nil)
			if r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest || !bytesContains(r.Body, `"`+tt.field+`"`) {
				t.Errorf("%s: %d %s, want an error naming %s", tt.query, r.Status, r.Body, tt.field)
			}
		}
	})
}

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }
