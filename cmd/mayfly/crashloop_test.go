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
// launches, replaces (with a fresh stack of the same version), rolls back
// and destroys environments, starts it again, and repeats; then checks
// that nothing was lost, done twice or leaked: each environment has one
// stack in service, the others destroyed (or on standby until it is
// destroyed), and no process of any stack survives the destroy.
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
		// Replace or roll back one launched earlier: refused (409) unless
		// it is ready with no replace under way, or has something to roll
		// back to.
		if len(ids) > 1 {
			id := ids[rng.IntN(len(ids)-1)]
			path := "/api/v1/environments/" + id + "/replace"
			if rng.IntN(3) == 0 {
				path = "/api/v1/environments/" + id + "/rollback"
			}
			if r := s.api("POST", path, map[string]any{}); r.Status != http.StatusAccepted && r.Status != http.StatusConflict {
				p.kill()
				t.Fatalf("iteration %d: %s: %d %s", i, path, r.Status, r.Body)
			}
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
	// Every replace ends, switched or failed: one stack in service.
	stacksOf := map[string][]string{}
	for _, id := range ids {
		deadline := time.Now().Add(120 * time.Second)
		for {
			e := s.replaced(id)
			if e.Replace == nil || e.Replace.State != "building" || e.Status != "ready" {
				inService := 0
				for _, st := range e.Stacks {
					stacksOf[id] = append(stacksOf[id], st.ID)
					if st.Status == "in_service" {
						inService++
					}
				}
				if len(e.Stacks) > 0 && e.Status == "ready" && inService != 1 {
					t.Errorf("%s: %d stacks in service: %+v", id, inService, e.Stacks)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: replace still building at the deadline", id)
			}
			time.Sleep(100 * time.Millisecond)
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
		created := map[string]int{}
		for _, m := range s.events(id) {
			if strings.HasPrefix(m, "Stack created") {
				created[m]++ // "Stack created: <handle>", once per stack
			}
		}
		for m, n := range created {
			if n > 1 {
				t.Errorf("%s: %q %d times:\n%s", id, m, n, msgs)
			}
		}
		for _, st := range s.replaced(id).Stacks {
			if st.Status != "destroyed" {
				t.Errorf("%s: stack %s is %s after the destroy", id, st.ID, st.Status)
			}
		}
		for _, sid := range stacksOf[id] {
			if pids := local.Processes(sid); len(pids) > 0 {
				t.Errorf("processes of stack %s of %s leaked: %v", sid, id, pids)
			}
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
	t.Logf("%d environments (%d of them replaced) through %d crashes", len(ids), len(stacksOf), iterations)
}
