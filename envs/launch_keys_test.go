package envs_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/internal/testclock"
)

// An idempotency key answers with its launch for a day, per owner; after
// that (or swept) it launches again. The stored digest is an HMAC, not the
// request.
func TestLaunchOnceKeys(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	clk := testclock.New(time.Now().UTC())
	svc := startFaulty(t, db, cipher, newFaultyProvider(nil), envs.Config{Clock: clk.Now, SweepInterval: time.Hour})
	req := envs.LaunchRequest{Template: "faulty", Labels: map[string]string{"pr": "hunter2"}}
	launch := func(a envs.Actor, key string, r envs.LaunchRequest) (*envs.Environment, bool) {
		t.Helper()
		e, replayed, err := svc.LaunchOnce(ctx, a, r, key)
		if err != nil {
			t.Fatalf("launch with key %q: %v", key, err)
		}
		return e, replayed
	}

	first, replayed := launch(tester, "job-1", req)
	if replayed {
		t.Fatal("the first launch with a key says it was replayed")
	}
	again, replayed := launch(tester, "job-1", req)
	if !replayed || again.ID != first.ID {
		t.Errorf("same key: %s (replayed %v), want %s replayed", again.ID, replayed, first.ID)
	}

	other := tester
	other.UserID, other.Name = "usr-other", "other"
	theirs, replayed := launch(other, "job-1", req)
	if replayed || theirs.ID == first.ID {
		t.Errorf("another owner's key job-1 gave %s (replayed %v), want a launch of their own", theirs.ID, replayed)
	}

	k, err := db.LaunchKey(ctx, tester.UserID, "job-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k.Digest) || k.EnvironmentID != first.ID {
		t.Errorf("stored key: digest %q, environment %s; want a hex HMAC and %s", k.Digest, k.EnvironmentID, first.ID)
	}

	changed := req
	changed.Labels = map[string]string{"pr": "hunter3"}
	_, _, err = svc.LaunchOnce(ctx, tester, changed, "job-1")
	if envs.ErrorCode(err) != envs.EInvalid || len(fieldsOf(err)) != 1 || fieldsOf(err)[0] != "Idempotency-Key" {
		t.Errorf("same key, other request: %v (fields %q), want invalid naming Idempotency-Key", err, fieldsOf(err))
	}

	clk.Add(envs.LaunchKeyTTL + time.Minute)
	later, replayed := launch(tester, "job-1", changed)
	if replayed || later.ID == first.ID {
		t.Errorf("a day later: %s (replayed %v), want a new launch", later.ID, replayed)
	}
	if n, err := db.DeleteLaunchKeysBefore(ctx, clk.Now().Add(-envs.LaunchKeyTTL)); err != nil || n != 1 {
		t.Errorf("sweep: %d keys, %v; want the other owner's old key only", n, err)
	}
	if again, replayed := launch(tester, "job-1", changed); !replayed || again.ID != later.ID {
		t.Errorf("after the sweep: %s (replayed %v), want %s", again.ID, replayed, later.ID)
	}
}
