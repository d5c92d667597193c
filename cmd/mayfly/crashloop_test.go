package main

import (
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// TestCrashLoop kills the portal with SIGKILL at random points while it
// launches and destroys environments, starts it again, and repeats; then
// checks that nothing was lost, done twice or leaked.
func TestCrashLoop(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	const iterations = 30
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	addr := freeAddr(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var ids []string
	failing, destroyed := map[string]bool{}, map[string]bool{} // launched of "crashing"; destroyed in the loop
	for i := range iterations {
		p := startPortal(t, dataDir, dbURL, addr)
		s := p.server()
		if i == 0 {
			publishInstant(t, s)
		}
		// Launch one or two, and destroy one launched earlier. Some fail:
		// their stacks are cleaned up while they stay failed.
		for range 1 + rng.IntN(2) {
			tpl := "tiny"
			switch rng.IntN(6) {
			case 0, 1:
				tpl = "slow-setup"
			case 2:
				tpl = "crashing"
			}
			r := s.api("POST", "/api/v1/environments", map[string]any{"template": tpl, "ttl": "1h"})
			if r.Status != http.StatusAccepted {
				p.kill()
				t.Fatalf("iteration %d: launch: %d %s", i, r.Status, r.Body)
			}
			var e envJSON
			r.decode(t, &e)
			ids = append(ids, e.ID)
			failing[e.ID] = tpl == "crashing"
		}
		if len(ids) > 2 && rng.IntN(2) == 0 {
			id := ids[rng.IntN(len(ids)-1)]
			if r := s.api("DELETE", "/api/v1/environments/"+id, nil); r.Status != http.StatusAccepted {
				p.kill()
				t.Fatalf("iteration %d: destroy %s: %d %s", i, id, r.Status, r.Body)
			}
			destroyed[id] = true
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond) // a random point of the work
		p.kill()
	}

	// A last run finishes what is left. A failed launch's stack never
	// leaks: it is cleaned up while the environment stays failed (unless
	// it was destroyed meanwhile). Then everything is destroyed.
	p := startPortal(t, dataDir, dbURL, addr)
	defer p.kill()
	s := p.server()
	for _, id := range ids {
		if failing[id] && !destroyed[id] || s.env(id).Status == "failed" {
			s.waitCleaned(id, 120*time.Second)
			waitNoProcessesOf(t, id)
			if _, err := os.Stat(filepath.Join(dataDir, "stacks", id)); !os.IsNotExist(err) {
				t.Errorf("the failed stack of %s leaked: %v", id, err)
			}
			if n := strings.Count(strings.Join(s.events(id), "\n"), "Launch failed"); n != 1 {
				t.Errorf("%s failed %d times: %q", id, n, s.events(id))
			}
		}
	}
	for _, id := range ids {
		if r := s.api("DELETE", "/api/v1/environments/"+id, nil); r.Status != http.StatusAccepted {
			t.Fatalf("destroy %s: %d %s", id, r.Status, r.Body)
		}
	}
	// On PostgreSQL jobs a killed portal held wait for the rescuer (after
	// the dead leader's lease and --rescue-after): allow for that.
	for _, id := range ids {
		s.waitStatus(id, "destroyed", 120*time.Second)
	}
	for _, id := range ids {
		msgs := strings.Join(s.events(id), "\n")
		if n := strings.Count(msgs, "Launched "); n != 1 {
			t.Errorf("%s launched %d times:\n%s", id, n, msgs)
		}
		if n := strings.Count(msgs, "Stack created"); n > 1 {
			t.Errorf("%s: stack created %d times:\n%s", id, n, msgs)
		}
		if n := strings.Count(msgs, "\nDestroyed"); n != 1 {
			t.Errorf("%s destroyed %d times:\n%s", id, n, msgs)
		}
		if pids := local.Processes(id); len(pids) > 0 {
			t.Errorf("processes of %s leaked: %v", id, pids)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "stacks")); len(entries) > 0 {
		t.Errorf("stack directories leaked: %v", entries)
	}
	t.Logf("%d environments through %d crashes", len(ids), iterations)
}
