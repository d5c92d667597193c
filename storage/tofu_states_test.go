package storage_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// TestTofuStateLocks: of many clients locking one stack at once exactly
// one wins; writes go through only for the holder (or when unlocked); the
// run and the state are kept apart and removed together.
func TestTofuStateLocks(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	const stack = "stk-1"

	var wg sync.WaitGroup
	var mu sync.Mutex
	won := []string{}
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		wg.Go(func() {
			_, err := db.LockTofuState(ctx, stack, id, `{"ID":"`+id+`"}`, "holder-"+id, now)
			switch {
			case err == nil:
				mu.Lock()
				won = append(won, id)
				mu.Unlock()
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("lock %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("locks taken: %v, want exactly one", won)
	}
	holder := won[0]
	other := "z"
	held, err := db.LockTofuState(ctx, stack, other, `{"ID":"z"}`, "holder-z", now)
	if !errors.Is(err, storage.ErrConflict) || held == nil || held.LockID != holder || held.LockHolder != "holder-"+holder || !held.LockedAt.Equal(now) {
		t.Fatalf("second lock: %+v %v, want a conflict showing %s's lock", held, err, holder)
	}
	steps := []struct {
		name    string
		lockID  string
		wantErr error
	}{
		{"write without the lock", "", storage.ErrConflict},
		{"write with another lock", other, storage.ErrConflict},
		{"write by the holder", holder, nil},
	}
	for _, st := range steps {
		if err := db.PutTofuState(ctx, stack, []byte("sealed-"+st.name), st.lockID, now); !errors.Is(err, st.wantErr) {
			t.Errorf("%s: %v, want %v", st.name, err, st.wantErr)
		}
	}
	if _, err := db.UnlockTofuState(ctx, stack, other); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("unlock by another lock: %v, want a conflict", err)
	}
	if _, err := db.UnlockTofuState(ctx, stack, holder); err != nil {
		t.Errorf("unlock by the holder: %v", err)
	}
	if _, err := db.UnlockTofuState(ctx, stack, holder); err != nil {
		t.Errorf("unlock again: %v", err)
	}
	if err := db.SaveTofuRun(ctx, stack, []byte("sealed-run"), now); err != nil {
		t.Fatal(err)
	}
	row, err := db.TofuState(ctx, stack)
	if err != nil || string(row.State) != "sealed-write by the holder" || string(row.Run) != "sealed-run" || row.LockID != "" {
		t.Fatalf("row: %+v %v", row, err)
	}
	if err := db.ClearTofuState(ctx, stack, now); err != nil {
		t.Fatal(err)
	}
	if row, _ := db.TofuState(ctx, stack); len(row.State) != 0 || string(row.Run) != "sealed-run" {
		t.Errorf("after clear: %+v, want no state and the run kept", row)
	}
	rows, err := db.TofuStates(ctx)
	if err != nil || len(rows) != 1 || rows[0].StackID != stack || len(rows[0].Run) != 0 {
		t.Errorf("list: %+v %v, want the one stack without its sealed parts", rows, err)
	}
	if err := db.DeleteTofuState(ctx, stack); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TofuState(ctx, stack); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after delete: %v, want not found", err)
	}
}
