package envs_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// TestTemplateOwnership walks one template's life through publishes and
// deprecations by people in and out of its owning team.
func TestTemplateOwnership(t *testing.T) {
	ctx := context.Background()
	db, cipher := openStore(t)
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{newFaultyProvider(nil)}, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	shop := envs.Actor{Name: "gina", Role: envs.RoleAuthor, Teams: []string{"shop", "web"}}
	outsider := envs.Actor{Name: "dave", Role: envs.RoleAuthor}
	data := envs.Actor{Name: "hank", Role: envs.RoleAuthor, Teams: []string{"data"}}
	admin := envs.Actor{Name: "ada", Role: envs.RoleAdmin}
	doc := func(version, owner string) []byte {
		src := strings.Replace(faultyTemplate, "version: 1.0.0", "version: "+version, 1)
		if owner == "" {
			return []byte(strings.Replace(src, "owner: tests\n", "", 1))
		}
		return []byte(strings.Replace(src, "owner: tests", "owner: "+owner, 1))
	}
	steps := []struct {
		name      string
		actor     envs.Actor
		deprecate bool
		version   string
		owner     string
		want      envs.Code // "" for success
		says      string
		team      string // the owning team after the step
	}{
		{"an outsider names a team that is not theirs", outsider, false, "1.0.0", "shop", envs.EForbidden, `owned by the team "shop", which you are not in (your teams: none)`, ""},
		{"an author names no owner", shop, false, "1.0.0", "", envs.EInvalid, "owner: is required", ""},
		{"the first publish records the team", shop, false, "1.0.0", "shop", "", "", "shop"},
		{"the same content again", shop, false, "1.0.0", "shop", "", "", "shop"},
		{"an outsider's next version", outsider, false, "1.0.1", "shop", envs.EForbidden, `owned by the team "shop"; only its members`, "shop"},
		{"another team's next version", data, false, "1.0.1", "data", envs.EForbidden, `owned by the team "shop"; only its members`, "shop"},
		{"another team deprecates", data, true, "1.0.0", "", envs.EForbidden, `only its members or an administrator can deprecate`, "shop"},
		{"a member's next version", shop, false, "1.0.1", "shop", "", "", "shop"},
		{"a member hands it over", shop, false, "1.0.2", "web", envs.EForbidden, `handing it to "web" needs an administrator`, "shop"},
		{"a member deprecates", shop, true, "1.0.0", "", "", "", "shop"},
		{"an admin hands it to data", admin, false, "2.0.0", "data", "", "", "data"},
		{"the old team after the hand-over", shop, false, "2.0.1", "data", envs.EForbidden, `owned by the team "data"`, "data"},
		{"the new team", data, false, "2.0.1", "data", "", "", "data"},
		{"an admin deprecates", admin, true, "1.0.1", "", "", "", "data"},
		{"an admin leaves it to admins", admin, false, "3.0.0", "", "", "", ""},
		{"then only admins publish", data, false, "3.0.1", "data", envs.EForbidden, "owned by no team", ""},
	}
	for _, st := range steps {
		var err error
		if st.deprecate {
			err = svc.Deprecate(ctx, st.actor, "faulty", st.version, "")
		} else {
			_, _, err = svc.Publish(ctx, st.actor, doc(st.version, st.owner))
		}
		switch {
		case st.want == "" && err != nil:
			t.Errorf("%s: %v, want it allowed", st.name, err)
		case st.want != "" && (envs.ErrorCode(err) != st.want || !strings.Contains(err.Error(), st.says)):
			t.Errorf("%s: %v, want %s saying %q", st.name, err, st.want, st.says)
		}
		if tpl, err := svc.Template(ctx, "faulty"); err == nil && tpl.OwnerTeam != st.team {
			t.Errorf("%s: owning team %q, want %q", st.name, tpl.OwnerTeam, st.team)
		}
	}
}

// openStore opens a migrated database for one test, and a cipher.
func openStore(t *testing.T) (*storage.DB, *envs.Cipher) {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storagetest.URL(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	cipher, err := envs.NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return db, cipher
}

// startService runs the service's jobs until the test ends.
func startService(t *testing.T, svc *envs.Service) {
	t.Helper()
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}
