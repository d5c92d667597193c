package envs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/storage"
)

// describedProvider builds stacks at once and lists the stacks the test
// gives it, as a cloud provider's StackInfos would.
type describedProvider struct {
	instantProvider
	mu    sync.Mutex
	infos []StackInfo
}

func (*describedProvider) Provision(_ context.Context, req ProvisionRequest) (string, error) {
	return "h-" + cmpOr(req.StackID, req.EnvironmentID), nil
}

func (d *describedProvider) StackInfos(context.Context, StackScopes) ([]StackInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.infos, nil
}

// The cloud orphan sweep judges a live environment's stacks by the stacks
// table: the one in service, a standby within its grace and a candidate
// being built (known only by its stack id tag) are not orphans; a stack
// tagged with the environment that it does not know, and one it took out
// of service, are.
func TestCloudOrphansJudgedByStacks(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	c, err := NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	p := &describedProvider{}
	s, err := New(Config{Store: db, Cipher: c, Providers: []Provider{p}, PollInterval: 5 * time.Millisecond, RollbackGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, ver := range []string{"1.0.0", "1.1.0"} {
		if _, _, err := s.Publish(ctx, System, []byte(strings.Replace(rolloutTemplate, "1.0.0", ver, 1))); err != nil {
			t.Fatal(err)
		}
	}
	runService(t, s)
	e := launchReady(t, s, "web1", "1.0.0", nil)
	if _, err := s.Replace(ctx, rolloutAuthor, ReplaceRequest{ID: e.ID, Version: "1.1.0"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var got *Environment
	for {
		got, err = s.Environment(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Replace != nil && got.Replace.State == ReplaceSwitched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replace: %+v", got.Replace)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A candidate in flight, its handle not recorded yet.
	building := "stk-building1"
	if err := db.CreateStack(ctx, stackRow(e.ID, building, string(StackBuilding), s.now())); err != nil {
		t.Fatal(err)
	}
	gone := "stk-gone1"
	if err := db.CreateStack(ctx, stackRow(e.ID, gone, string(StackDestroying), s.now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	at := s.now().Add(-time.Minute)
	p.infos = []StackInfo{
		{Handle: got.Handle, EnvironmentID: e.ID, StackID: got.StackID, CreatedAt: at},    // in service
		{Handle: "h-" + e.ID, EnvironmentID: e.ID, StackID: e.ID, CreatedAt: at},          // standby
		{Handle: "cf-building", EnvironmentID: e.ID, StackID: building, CreatedAt: at},    // candidate
		{Handle: "cf-unknown", EnvironmentID: e.ID, StackID: "stk-nobody", CreatedAt: at}, // not the environment's
		{Handle: "h-" + gone, EnvironmentID: e.ID, StackID: gone, CreatedAt: at},          // out of service
	}
	found, err := s.cloudOrphans(ctx, "instant", p, 0)
	if err != nil {
		t.Fatal(err)
	}
	orphans := map[string]string{}
	for _, o := range found {
		orphans[o.Handle] = o.Reason
	}
	for _, tt := range []struct {
		handle string
		orphan bool
	}{{got.Handle, false}, {"h-" + e.ID, false}, {"cf-building", false}, {"cf-unknown", true}, {"h-" + gone, true}} {
		if _, ok := orphans[tt.handle]; ok != tt.orphan {
			t.Errorf("%s: orphan %v (%q), want %v", tt.handle, ok, orphans[tt.handle], tt.orphan)
		}
	}
}

func stackRow(envID, id, status string, at time.Time) *storage.Stack {
	return &storage.Stack{ID: id, EnvironmentID: envID, Version: "1.1.0", Status: status, Params: "{}", Outputs: "{}", Facts: "{}",
		Attempt: 1, CreatedAt: at, UpdatedAt: at}
}
