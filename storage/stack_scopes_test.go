package storage_test

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestStackScopes(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	v := seedVersion(t, db) // a local version
	now := time.Now().UTC()
	for i, stack := range []string{`{"region":"us-east-2"}`, `{"region":"us-east-2"}`, `{"role_arn":"r"}`} {
		av := *v
		av.ID, av.Version, av.Major, av.Provider, av.Stack = 0, []string{"2.0.0", "3.0.0", "4.0.0"}[i], i+2, "aws", stack
		if i == 2 {
			av.DeprecatedAt = &now // deprecated versions count too
		}
		if err := db.CreateVersion(ctx, &av); err != nil {
			t.Fatal(err)
		}
	}
	long := now.Add(-48 * time.Hour)
	for _, e := range []struct {
		id, status, handle string
		destroyedAt        *time.Time
	}{
		{"env-live", "ready", "h-live", nil},
		{"env-starting", "provisioning", "", nil}, // no handle yet
		{"env-recent", "destroyed", "h-recent", &now},
		{"env-old", "destroyed", "h-old", &long},
	} {
		r := newEnv(e.id, e.id, v)
		r.Provider, r.Status, r.Handle, r.DestroyedAt = "aws", e.status, e.handle, e.destroyedAt
		if err := db.CreateEnvironment(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	other := newEnv("env-local", "local1", v)
	other.Handle = "env-local"
	if err := db.CreateEnvironment(ctx, other); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		got  func() ([]string, error)
		want []string
	}{
		{"stack bodies of every version, once", func() ([]string, error) { return db.StackBodies(ctx, "aws") },
			[]string{`{"region":"us-east-2"}`, `{"role_arn":"r"}`}},
		{"handles of live and recently destroyed environments", func() ([]string, error) {
			return db.RecentHandles(ctx, "aws", now.Add(-time.Hour))
		}, []string{"h-live", "h-recent"}},
		{"only the provider's", func() ([]string, error) { return db.RecentHandles(ctx, "local", now.Add(-time.Hour)) },
			[]string{"env-local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			if slices.Sort(got); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
