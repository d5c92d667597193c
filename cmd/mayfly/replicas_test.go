package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mayflyhq/mayfly/envs/local"
	"github.com/mayflyhq/mayfly/envs/notify/notifytest"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// Several replicas on one PostgreSQL database: real portal processes on
// real ports, sharing the database and (on one host) the data directory,
// as "Running at scale" in the README describes.

// startReplicas starts n portals on one fresh PostgreSQL database and one
// shared data directory, one after the other (the first one migrates and
// creates the shared secret key and sample snapshot).
func startReplicas(t *testing.T, n int, extra ...string) ([]*portal, string) {
	t.Helper()
	if !storagetest.Postgres() {
		t.Skip("several replicas need PostgreSQL (set " + storagetest.EnvVar + "; make test does)")
	}
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	var ps []*portal
	for range n {
		p := startPortal(t, dataDir, dbURL, freeAddr(t), extra...)
		t.Cleanup(p.kill)
		ps = append(ps, p)
	}
	return ps, dbURL
}

// publishInstant publishes a template whose stack is ready as soon as its
// process starts, so many environments come up (and expire) together.
func publishInstant(t *testing.T, s *testServer) {
	t.Helper()
	tpl := strings.Replace(publishedTemplate, "    required: true\n", "", 1)
	if r := s.do("POST", "/api/v1/templates", "application/yaml", []byte(tpl)); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
}

// 500 environments launched across three replicas expire together; each is
// destroyed exactly once.
func TestReplicasReapEachEnvironmentExactlyOnce(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	ps, _ := startReplicas(t, 3)
	publishInstant(t, ps[0].server())
	const n = 500
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = ps[i%len(ps)].server().launch(map[string]any{"template": "tiny", "ttl": "4s"}).ID
		}()
	}
	wg.Wait()
	for i, id := range ids {
		// Any replica answers for any environment.
		s := ps[(i+1)%len(ps)].server()
		s.waitStatus(id, "destroyed", 60*time.Second)
		msgs := strings.Join(s.events(id), "\n")
		for _, want := range []string{"TTL expired", "\nDestroyed"} {
			if got := strings.Count(msgs, want); got != 1 {
				t.Errorf("%s: %q %d times, want once:\n%s", id, want, got, msgs)
			}
		}
		// Under load an environment may expire before its stack is even
		// created; it is never created twice.
		if got := strings.Count(msgs, "Stack created"); got > 1 {
			t.Errorf("%s: stack created %d times:\n%s", id, got, msgs)
		}
		waitNoProcessesOf(t, id)
	}
}

func TestReplicasStreamEventsCommittedElsewhere(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	ps, _ := startReplicas(t, 2)
	a, b := ps[0].server(), ps[1].server()
	publishInstant(t, a)
	e := a.launch(map[string]any{"template": "tiny", "ttl": "1h"})
	a.waitStatus(e.ID, "ready", 30*time.Second)

	// A browser on replica b follows the environment...
	resp, lines := openStream(t, b.url+"/environments/"+e.ID+"/stream")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	waitLine := func(substr string, within time.Duration) {
		t.Helper()
		timeout := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", substr)
				}
				if strings.Contains(l, substr) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q on replica b's stream within %s", substr, within)
			}
		}
	}
	waitLine("Ready", 5*time.Second) // the timeline so far

	// ...while the user extends it through replica a.
	start := time.Now()
	if r := a.api("POST", "/api/v1/environments/"+e.ID+"/extend", map[string]string{"ttl": "30m"}); r.Status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.Status, r.Body)
	}
	// Streams re-read the database every second; allow for one poll plus
	// scheduling slack on a busy test machine (the time taken is logged).
	waitLine("Extended by 30m", 2*time.Second)
	t.Logf("event committed on replica a reached replica b's stream after %s", time.Since(start).Round(time.Millisecond))

	if r := b.api("DELETE", "/api/v1/environments/"+e.ID, nil); r.Status != http.StatusAccepted {
		t.Fatalf("destroy: %d %s", r.Status, r.Body)
	}
	waitLine("Destroyed", 10*time.Second)
	waitNoProcessesOf(t, e.ID)
}

// waitNoProcessesOf waits briefly for the processes of an environment to be
// gone: a process another replica stopped may still be exiting when the
// stopping replica records the destroy.
func waitNoProcessesOf(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := local.Processes(id)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of %s still running: %v", id, pids)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leader is the River client currently elected leader.
// leader is the id of River's current leader ("" none); a database too
// busy to answer within 5s is an error the caller may retry.
func leader(dbURL string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var id string
	err = conn.QueryRow(ctx, `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id)
	if err == pgx.ErrNoRows {
		return "", nil
	}
	return id, err
}

// waitLeader polls until a leader other than not is elected, riding out a
// database slow to answer under load (the last error is reported).
func waitLeader(t *testing.T, dbURL, not string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		id, err := leader(dbURL)
		if err == nil && id != "" && id != not {
			return id
		}
		if err != nil {
			lastErr = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no leader other than %q within %s (last error: %v)", not, within, lastErr)
	return ""
}

// A replica killed in the middle of a launch leaves the job "running"; the
// leader's rescuer hands it to another replica, which finishes the launch.
// Killing the leader hands leadership (and the periodic sweep) to another.
func TestReplicaKilledMidLaunchAnotherFinishes(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if !storagetest.Postgres() {
		t.Skip("needs PostgreSQL (set " + storagetest.EnvVar + "; make test does)")
	}
	if testing.Short() {
		t.Skip("starts real portal processes")
	}
	dataDir, dbURL := t.TempDir(), storagetest.URL(t)
	a := startPortal(t, dataDir, dbURL, freeAddr(t))
	defer a.kill()
	first := waitLeader(t, dbURL, "", 20*time.Second) // a, the only replica
	e := a.server().launch(map[string]any{"template": "slow-setup", "name": "orphaned", "ttl": "10m"})
	a.server().waitStatus(e.ID, "provisioning", 10*time.Second)

	b := startPortal(t, dataDir, dbURL, freeAddr(t))
	defer b.kill()
	a.kill() // mid setup: the provision job stays "running" with a's name on it
	killed := time.Now()

	// River's leader lease runs out, b is elected, and its rescuer (which
	// runs at once on election) finds the job stuck past --rescue-after.
	second := waitLeader(t, dbURL, first, 30*time.Second)
	t.Logf("leader %s -> %s after %s", first, second, time.Since(killed).Round(time.Second))

	s := b.server()
	ready := s.waitStatus(e.ID, "ready", 90*time.Second)
	t.Logf("launch finished by the other replica %s after the kill", time.Since(killed).Round(time.Second))
	if code, _, err := httpGet(ready.Outputs["url"]); err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", ready.Outputs["url"], code, err)
	}
	msgs := strings.Join(s.events(e.ID), "\n")
	for _, want := range []string{"Provisioning on local", "Ready"} {
		if n := strings.Count(msgs, want); n != 1 {
			t.Errorf("%q %d times, want once:\n%s", want, n, msgs)
		}
	}
	s.destroyClean(e.ID)
}

// A dropped database connection (a PostgreSQL restart, a failover) costs at
// most the requests in flight: the pool reconnects and jobs carry on.
func TestDatabaseConnectionsDroppedMidRun(t *testing.T) {
	t.Parallel() // its own database, data directory and ports; mostly waiting on processes
	if !storagetest.Postgres() {
		t.Skip("needs PostgreSQL (set " + storagetest.EnvVar + "; make test does)")
	}
	s := startMain(t, testCatalog(t))
	e := s.launch(map[string]any{"template": "slow-setup", "name": "through-a-drop", "ttl": "10m"})
	s.waitStatus(e.ID, "provisioning", 10*time.Second)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var dropped int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&dropped)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 {
		t.Fatal("the portal had no connection to drop")
	}
	t.Logf("dropped %d connections", dropped)
	// A request that gets a connection killed under it fails (500); the
	// pool checks connections idle for over a second before handing them
	// out, so the portal is whole again within about a second.
	var steadySince time.Time
	deadline := time.Now().Add(10 * time.Second)
	for steadySince.IsZero() || time.Since(steadySince) < 1500*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("the portal did not recover from the dropped connections within 10s")
		}
		if code, _, err := httpGet(s.url + "/readyz"); err != nil || code != http.StatusOK {
			steadySince = time.Time{}
		} else if steadySince.IsZero() {
			steadySince = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}

	s.waitStatus(e.ID, "ready", 60*time.Second)
	// New work goes through on reconnected connections.
	second := s.launch(map[string]any{"template": "slow-setup", "name": "after-the-drop"})
	s.waitStatus(second.ID, "ready", 60*time.Second)
	for _, id := range []string{e.ID, second.ID} {
		if n := strings.Count(strings.Join(s.events(id), "\n"), "Ready"); n != 1 {
			t.Errorf("%s: ready %d times, want once", id, n)
		}
	}
}

// Environments launched across three replicas with a TTL shorter than the
// shortest warning lead are each warned at once: exactly one e-mail each
// (a real SMTP server), however many replicas run the warning pass.
func TestReplicasMailEachExpiryWarningOnce(t *testing.T) {
	t.Parallel() // its own database, data directory, ports and SMTP server
	mail := notifytest.StartSMTP(t, false, "", "")
	ps, _ := startReplicas(t, 3, "--smtp-host", mail.Host, "--smtp-port", strconv.Itoa(mail.Port),
		"--smtp-from", "mayfly@example.com", "--smtp-tls", "none")
	s := ps[0].server()
	publishInstant(t, s)
	ch := map[string]any{"kind": "email", "email": "owner@example.com", "events": []string{"environment.expiring"}}
	if r := s.api("POST", "/api/v1/notifications/channels", ch); r.Status != http.StatusCreated {
		t.Fatalf("add channel: %d %s", r.Status, r.Body)
	}
	const n = 30
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i] = ps[i%len(ps)].server().launch(map[string]any{"template": "tiny", "name": fmt.Sprintf("warned-%02d", i), "ttl": "5m"}).ID
		})
	}
	wg.Wait()
	mail.Wait(t, n, 60*time.Second)
	// Every replica's sweep (each second) has run several times since.
	time.Sleep(4 * time.Second)
	per := map[string]int{}
	for _, m := range mail.Mails() {
		per[m.Subject]++
	}
	for i := range n {
		subject := fmt.Sprintf("Environment warned-%02d expires in 5 min", i)
		if per[subject] != 1 {
			t.Errorf("%q mailed %d times, want once", subject, per[subject])
		}
	}
	if got := len(mail.Mails()); got != n {
		t.Errorf("%d mails, want %d: %v", got, n, per)
	}
	for i, id := range ids {
		ps[(i+1)%len(ps)].server().destroyClean(id)
	}
}
