package main

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLoadThroughTheAPI runs a bounded load on loopback: concurrent clients
// launch, list, extend, read and destroy environments through the API. It
// asserts correctness (no 5xx, nothing lost, nothing done twice); the rate
// and latencies it logs are for reading, not asserted.
func TestLoadThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("a load run")
	}
	const (
		clients  = 32
		duration = 10 * time.Second
	)
	s := startMain(t, "")
	publishInstant(t, s)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  []string
		launched  []string
	)
	call := func(method, path string, body any, want int) apiResponse {
		start := time.Now()
		r := s.api(method, path, body)
		mu.Lock()
		defer mu.Unlock()
		latencies = append(latencies, time.Since(start))
		if r.Status != want {
			failures = append(failures, method+" "+path+": "+http.StatusText(r.Status)+" "+string(r.Body))
		}
		return r
	}
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				var e envJSON
				r := call("POST", "/api/v1/environments", map[string]any{"template": "tiny", "ttl": "1h"}, http.StatusAccepted)
				if r.Status != http.StatusAccepted {
					continue
				}
				r.decode(t, &e)
				mu.Lock()
				launched = append(launched, e.ID)
				mu.Unlock()
				call("GET", "/api/v1/environments?status=pending,provisioning,ready&limit=50", nil, http.StatusOK)
				call("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "30m"}, http.StatusOK)
				call("GET", "/api/v1/environments/"+e.ID, nil, http.StatusOK)
				call("DELETE", "/api/v1/environments/"+e.ID, nil, http.StatusAccepted)
			}
		}()
	}
	wg.Wait()

	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	t.Logf("%d requests in %s (%.0f/s) by %d clients; latency p50 %s, p95 %s, p99 %s, max %s; %d environments",
		len(latencies), duration, float64(len(latencies))/duration.Seconds(), clients,
		pct(0.50), pct(0.95), pct(0.99), latencies[len(latencies)-1], len(launched))
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(failures)-10)
			break
		}
		t.Errorf("unexpected answer: %.300s", f)
	}
	for _, id := range launched {
		s.waitStatus(id, "destroyed", 60*time.Second)
		msgs := strings.Join(s.events(id), "\n")
		for _, want := range []string{"Launched ", "Extended by 30m", "\nDestroyed"} {
			if n := strings.Count(msgs, want); n != 1 {
				t.Errorf("%s: %q %d times, want once:\n%s", id, want, n, msgs)
			}
		}
	}
}
