package envs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

func TestValidateLabels(t *testing.T) {
	many := map[string]string{}
	for i := range 33 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   []string // the fields at fault
	}{
		{"none", nil, nil},
		{"ordinary", map[string]string{"pr": "123", "commit": "abc", "team.io/ci-run_1": ""}, nil},
		{"a key with a capital", map[string]string{"PR": "1"}, []string{"labels.PR"}},
		{"a key starting with a dash", map[string]string{"-pr": "1"}, []string{"labels.-pr"}},
		{"an empty key", map[string]string{"": "1"}, []string{"labels."}},
		{"a key of 64 bytes", map[string]string{strings.Repeat("a", 64): "1"}, []string{"labels." + strings.Repeat("a", 63) + "..."}},
		{"a value of 64 bytes", map[string]string{"pr": strings.Repeat("x", 64)}, []string{"labels.pr"}},
		{"a value of 63 bytes", map[string]string{"pr": strings.Repeat("x", 63)}, nil},
		{"a NUL in a value", map[string]string{"pr": "1\x00"}, []string{"labels.pr"}},
		{"a new line in a value", map[string]string{"pr": "1\n2"}, []string{"labels.pr"}},
		{"bytes that are not UTF-8", map[string]string{"pr": "\xff"}, []string{"labels.pr"}},
		{"33 labels", many, []string{"labels"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, fe := range envs.ValidateLabels(c.labels) {
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("fields at fault = %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseLabelFilter(t *testing.T) {
	for _, c := range []struct {
		items []string
		ok    bool
	}{
		{nil, true},
		{[]string{"pr=1"}, true},
		{[]string{"pr=1", "commit=abc"}, true},
		{[]string{"pr="}, true},
		{[]string{"pr"}, false},
		{[]string{"PR=1"}, false},
		{[]string{"pr=1\x00"}, false},
	} {
		_, err := envs.ParseLabelFilter(c.items)
		if (err == nil) != c.ok {
			t.Errorf("ParseLabelFilter(%q) = %v, want ok %v", c.items, err, c.ok)
		}
		if err != nil && !slices.Equal(fieldsOf(err), []string{"label"}) {
			t.Errorf("ParseLabelFilter(%q): fields %q, want label", c.items, fieldsOf(err))
		}
	}
}

// Labels are kept from the launch, shown, and filter a listing (every
// label must match), on the real database.
func TestLabelsAtLaunchAndInTheFilter(t *testing.T) {
	ctx := context.Background()
	svc, _ := relaunchService(t)
	launch := func(name string, labels map[string]string) *envs.Environment {
		t.Helper()
		e, err := svc.Launch(ctx, bob, envs.LaunchRequest{Template: "vault", Version: "1.0.0", Name: name,
			Params: map[string]any{"customer": "Acme", "password": "hunter2-hunter2"}, Labels: labels})
		if err != nil {
			t.Fatalf("launch %s: %v", name, err)
		}
		return e
	}
	launch("pr1-abc", map[string]string{"pr": "1", "commit": "abc"})
	launch("pr1-def", map[string]string{"pr": "1", "commit": "def"})
	launch("pr2", map[string]string{"pr": "2"})
	launch("plain", nil)

	e, err := svc.Environments(ctx, envs.Filter{Labels: []string{"pr=1", "commit=abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 1 || e[0].Name != "pr1-abc" || e[0].Labels["commit"] != "abc" || e[0].Labels["pr"] != "1" {
		t.Fatalf("pr=1 and commit=abc: got %v", names(e))
	}
	for _, c := range []struct {
		labels []string
		want   []string
	}{
		{[]string{"pr=1"}, []string{"pr1-abc", "pr1-def"}},
		{[]string{"pr=2"}, []string{"pr2"}},
		{[]string{"pr=3"}, nil},
		{[]string{"commit=def", "pr=1"}, []string{"pr1-def"}},
		{[]string{"commit=def", "pr=2"}, nil},
		{nil, []string{"pr1-abc", "pr1-def", "pr2", "plain"}},
	} {
		list, err := svc.Environments(ctx, envs.Filter{Labels: c.labels})
		if err != nil {
			t.Fatal(err)
		}
		got := names(list)
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("label filter %q: got %v, want %v", c.labels, got, want)
		}
	}
	page, err := svc.EnvironmentPage(ctx, envs.Filter{Labels: []string{"pr=2"}, Limit: 10})
	if err != nil || len(page.Environments) != 1 {
		t.Fatalf("page with pr=2: %v, %v", page.Environments, err)
	}

	_, err = svc.Launch(ctx, bob, envs.LaunchRequest{Template: "vault", Version: "1.0.0", Name: "bad-labels",
		Params: map[string]any{"customer": "Acme", "password": "hunter2-hunter2"}, Labels: map[string]string{"Bad": "1"}})
	if envs.ErrorCode(err) != envs.EInvalid || !slices.Equal(fieldsOf(err), []string{"labels.Bad"}) {
		t.Errorf("a bad label: %v (fields %q), want invalid naming labels.Bad", err, fieldsOf(err))
	}
	if _, err := svc.Environments(ctx, envs.Filter{Labels: []string{"nokey"}}); envs.ErrorCode(err) != envs.EInvalid {
		t.Errorf("a filter without =: %v, want invalid", err)
	}
}

func names(list []*envs.Environment) []string {
	var out []string
	for _, e := range list {
		out = append(out, e.Name)
	}
	return out
}

// The catalog counts each version's live environments, and an environment
// says whether its version is deprecated and which newer one there is.
func TestVersionStateAndCounts(t *testing.T) {
	ctx := context.Background()
	svc, db := relaunchService(t)
	a := launchVault(t, svc, bob, "on-100-a")
	launchVault(t, svc, bob, "on-100-b")
	gone := launchVault(t, svc, bob, "on-100-gone")
	if err := db.UpdateEnvironment(ctx, gone.ID, storage.EnvironmentUpdate{Status: storage.Set("destroyed")}); err != nil {
		t.Fatal(err)
	}
	cat, err := svc.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]int{}
	for _, tpl := range cat {
		for _, v := range tpl.Versions {
			live[tpl.Name+"@"+v.Spec.Version] = v.Live
		}
	}
	if live["vault@1.0.0"] != 2 || live["vault@1.1.0"] != 0 {
		t.Errorf("live counts = %v, want vault@1.0.0: 2 (the destroyed one not counted), others 0", live)
	}
	tpl, err := svc.Template(ctx, "vault")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(tpl.Versions, func(v envs.Version) bool { return v.Spec.Version == "1.0.0" }); tpl.Versions[i].Live != 2 {
		t.Errorf("Template: vault@1.0.0 live = %d, want 2", tpl.Versions[i].Live)
	}

	got, err := svc.Environment(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VersionState.Newer != "1.2.0" || got.VersionState.Deprecated {
		t.Errorf("on 1.0.0: %+v, want 1.2.0 newer, not deprecated", got.VersionState)
	}
	if err := svc.Deprecate(ctx, envs.System, "vault", "1.2.0", ""); err != nil {
		t.Fatal(err)
	}
	if err := svc.Deprecate(ctx, envs.System, "vault", "1.0.0", "use 1.1"); err != nil {
		t.Fatal(err)
	}
	list, err := svc.Environments(ctx, envs.Filter{Template: "vault"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Status == envs.StatusDestroyed {
			continue
		}
		if st := e.VersionState; !st.Deprecated || st.Newer != "1.1.0" || st.DeprecationNote != "use 1.1" {
			t.Errorf("%s after deprecations: %+v, want deprecated, 1.1.0 newer (1.2.0 is deprecated)", e.Name, st)
		}
	}
}
