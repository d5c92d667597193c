package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

func TestValidateStack(t *testing.T) {
	p := newProvider(t, testConfig(t))

	t.Run("accepts the documented example", func(t *testing.T) {
		stack := `{
			"restore": {"snapshot": "shop-production", "into": "data"},
			"setup": [{
				"command": ["{{.Mayfly}}", "sample-app", "seed", "--db", "data/shop.db", "--customer", "{{.Params.customer}}"],
				"timeout": "60s",
				"env": {"KEY": "value"}
			}],
			"services": [{
				"name": "web",
				"command": ["{{.Mayfly}}", "sample-app", "serve", "--addr", "127.0.0.1:{{.Port}}", "--db", "data/shop.db"],
				"env": {"SHOP_TITLE": "Demo for {{.Params.customer}}"},
				"health": {"path": "/healthz", "interval": "500ms", "timeout": "60s"},
				"outputs": {"url": "http://127.0.0.1:{{.Port}}/"}
			}],
			"verify": [{
				"command": ["{{.Mayfly}}", "sample-app", "verify", "--db", "data/shop.db", "--manifest", "{{.Snapshot.Manifest}}"],
				"timeout": "60s"
			}],
			"drift": {"files": ["config/app.yaml", "data/*.sql"]}
		}`
		if err := p.ValidateStack([]byte(stack)); err != nil {
			t.Fatalf("ValidateStack: %v", err)
		}
	})

	const svc = `"name": "web", "command": ["x"]`
	tests := []struct {
		name  string
		stack string
		field string // the field the error must name
	}{
		{"missing stack", `null`, "stack"},
		{"not a mapping", `["web"]`, "stack"},
		{"missing services", `{}`, "stack.services"},
		{"empty services", `{"services": []}`, "stack.services"},
		{"missing service name", `{"services": [{"command": ["x"]}]}`, "stack.services[0].name"},
		{"bad service name", `{"services": [{"name": "Web_1", "command": ["x"]}]}`, "stack.services[0].name"},
		{"reserved service name", `{"services": [{"name": "setup", "command": ["x"]}]}`, "stack.services[0].name"},
		{"duplicate service names", `{"services": [{` + svc + `}, {` + svc + `}]}`, "stack.services[1].name"},
		{"missing command", `{"services": [{"name": "web"}]}`, "stack.services[0].command"},
		{"command is a string", `{"services": [{"name": "web", "command": "serve"}]}`, "stack.services[0].command"},
		{"bad health interval", `{"services": [{` + svc + `, "health": {"path": "/", "interval": "soon"}}]}`, "stack.services[0].health.interval"},
		{"zero health timeout", `{"services": [{` + svc + `, "health": {"path": "/", "timeout": "0s"}}]}`, "stack.services[0].health.timeout"},
		{"negative setup timeout", `{"setup": [{"command": ["x"], "timeout": "-1s"}], "services": [{` + svc + `}]}`, "stack.setup[0].timeout"},
		{"health path without slash", `{"services": [{` + svc + `, "health": {"path": "healthz"}}]}`, "stack.services[0].health.path"},
		{"into escapes", `{"restore": {"snapshot": "shop", "into": "../x"}, "services": [{` + svc + `}]}`, "stack.restore.into"},
		{"into has dotdot inside", `{"restore": {"snapshot": "shop", "into": "data/../../x"}, "services": [{` + svc + `}]}`, "stack.restore.into"},
		{"absolute into", `{"restore": {"snapshot": "shop", "into": "/tmp/x"}, "services": [{` + svc + `}]}`, "stack.restore.into"},
		{"into the work dir itself", `{"restore": {"snapshot": "shop", "into": "."}, "services": [{` + svc + `}]}`, "stack.restore.into"},
		{"bad dataset name", `{"restore": {"snapshot": "Shop/prod", "into": "data"}, "services": [{` + svc + `}]}`, "stack.restore.snapshot"},
		{"unknown top-level field", `{"services": [{` + svc + `}], "servics": []}`, "stack.servics"},
		{"unknown nested field", `{"services": [{` + svc + `, "health": {"path": "/", "retries": 3}}]}`, "stack.services[0].health.retries"},
		{"bad command template", `{"services": [{"name": "web", "command": ["x", "{{.Port"]}]}`, "stack.services[0].command[1]"},
		{"unknown template field", `{"services": [{` + svc + `, "outputs": {"url": "http://127.0.0.1:{{.Prot}}/"}}]}`, "stack.services[0].outputs.url"},
		{"unknown service in .Ports", `{"services": [{` + svc + `, "env": {"API": "{{.Ports.api}}"}}]}`, "stack.services[0].env.API"},
		{"bad env template", `{"services": [{` + svc + `, "env": {"A": "{{if}}"}}]}`, "stack.services[0].env.A"},
		{"bad env name", `{"services": [{` + svc + `, "env": {"1A": "x"}}]}`, "stack.services[0].env.1A"},
		{"bad output template", `{"services": [{` + svc + `, "outputs": {"url": "{{.Port}"}}]}`, "stack.services[0].outputs.url"},
		{"duplicate output", `{"services": [{` + svc + `, "outputs": {"url": "a"}}, {"name": "api", "command": ["x"], "outputs": {"url": "b"}}]}`, "stack.services[1].outputs.url"},
		{"bad verify command", `{"services": [{` + svc + `}], "verify": [{"command": []}]}`, "stack.verify[0].command"},
		{"drift files not a list", `{"services": [{` + svc + `}], "drift": {"files": "a.yaml"}}`, "stack.drift.files"},
		{"unknown drift field", `{"services": [{` + svc + `}], "drift": {"processes": true}}`, "stack.drift.processes"},
		{"absolute drift file", `{"services": [{` + svc + `}], "drift": {"files": ["ok.yaml", "/etc/passwd"]}}`, "stack.drift.files[1]"},
		{"drift file escapes", `{"services": [{` + svc + `}], "drift": {"files": ["config/../../x"]}}`, "stack.drift.files[0]"},
		{"bad drift pattern", `{"services": [{` + svc + `}], "drift": {"files": ["data/[a-"]}}`, "stack.drift.files[0]"},
		{"drift on the provider's files", `{"services": [{` + svc + `}], "drift": {"files": ["logs/*.log"]}}`, "stack.drift.files[0]"},
		{"drift on stack.json", `{"services": [{` + svc + `}], "drift": {"files": ["stack.json"]}}`, "stack.drift.files[0]"},
		{"empty drift file", `{"services": [{` + svc + `}], "drift": {"files": [""]}}`, "stack.drift.files[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.ValidateStack([]byte(tt.stack))
			if err == nil {
				t.Fatal("ValidateStack: got nil, want an error")
			}
			if got, want := envs.ErrorCode(err), envs.EInvalid; got != want {
				t.Fatalf("code = %s, want %s (%v)", got, want, err)
			}
			var fields []string
			for _, f := range envs.ErrorFields(err) {
				fields = append(fields, f.Field)
			}
			found := false
			for _, f := range fields {
				found = found || f == tt.field
			}
			if !found {
				t.Fatalf("fields = %q, want %q (%v)", fields, tt.field, err)
			}
		})
	}
}

func TestProvisionRejects(t *testing.T) {
	p := newProvider(t, testConfig(t))
	const stack = `{"services": [{"name": "web", "command": ["x", "{{.Params.customer}}"]}]}`

	t.Run("an id that could escape Root", func(t *testing.T) {
		for _, id := range []string{"", "../etc", "a/b", strings.Repeat("a", 65)} {
			_, err := p.Provision(context.Background(), envs.ProvisionRequest{EnvironmentID: id, Stack: []byte(stack)})
			if got, want := envs.ErrorCode(err), envs.EInvalid; got != want {
				t.Errorf("Provision(%q): code = %s, want %s (%v)", id, got, want, err)
			}
		}
	})

	t.Run("a template that needs a missing parameter", func(t *testing.T) {
		_, err := provision(t, p, "missing-param", stack, nil)
		if got, want := envs.ErrorCode(err), envs.EInvalid; got != want {
			t.Fatalf("code = %s, want %s (%v)", got, want, err)
		}
		fields := envs.ErrorFields(err)
		if len(fields) != 1 || fields[0].Field != "stack.services[0].command[1]" || !strings.Contains(fields[0].Message, "customer") {
			t.Fatalf("fields = %+v, want one naming stack.services[0].command[1] and the parameter", fields)
		}
	})
}

// Templates are an author's programs: a rendering is bounded at publish
// (tried against sample data) and at launch (with the real values), and the
// error names the field and the limit.
func TestTemplateLimits(t *testing.T) {
	p := newProvider(t, testConfig(t))
	nest := func(n int, over string) string {
		return strings.Repeat("{{range "+over+"}}", n) + strings.Repeat("{{end}}", n)
	}
	stack := func(arg string) string {
		b, _ := json.Marshal(map[string]any{"services": []any{
			map[string]any{"name": "web", "command": []string{"sleep", "1", arg}},
			map[string]any{"name": "api", "command": []string{"sleep", "1"}},
		}})
		return string(b)
	}
	const field = "stack.services[0].command[2]"

	publish := []struct{ name, arg, want string }{
		{"range over a huge int", "{{range 1000000000000}}{{end}}", "loops or calls templates more than 100000 times"},
		{"nested ranges over .Ports", nest(17, "$.Ports"), "loops or calls templates more than 100000 times"},
		{"recursive define", `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, "calls templates more than 100 deep"},
		{"huge output", "{{range 90000}}0123456789{{end}}", "renders more than 64 KiB"},
		{"printf width", `{{printf "%999999d" 1}}`, "printf builds a string longer than 64 KiB"},
	}
	for _, tt := range publish {
		t.Run("publish: "+tt.name, func(t *testing.T) {
			start := time.Now()
			err := p.ValidateStack([]byte(stack(tt.arg)))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("ValidateStack took %s", took)
			}
			assertField(t, err, field, tt.want)
		})
	}

	// With sample data .Params is empty: these loop only over real values.
	launch := []struct{ name, arg, want string }{
		{"nested ranges over .Params", nest(6, "$.Params"), "loops or calls templates more than 100000 times"},
		{"a parameter repeated", strings.Repeat("{{.Params.p0}}", 20), "renders more than 64 KiB"},
	}
	params := map[string]string{}
	for i := range 10 {
		params[fmt.Sprintf("p%d", i)] = strings.Repeat("x", 4000)
	}
	for i, tt := range launch {
		t.Run("launch: "+tt.name, func(t *testing.T) {
			if err := p.ValidateStack([]byte(stack(tt.arg))); err != nil {
				t.Fatalf("ValidateStack: %v, want it to pass with sample data", err)
			}
			_, err := provision(t, p, fmt.Sprintf("limits-%d", i), stack(tt.arg), params)
			assertField(t, err, field, tt.want)
		})
	}
}

func assertField(t *testing.T, err error, field, want string) {
	t.Helper()
	if got := envs.ErrorCode(err); got != envs.EInvalid {
		t.Fatalf("code = %s, want %s (%v)", got, envs.EInvalid, err)
	}
	fields := envs.ErrorFields(err)
	if len(fields) != 1 || fields[0].Field != field || !strings.Contains(fields[0].Message, want) {
		t.Fatalf("fields = %+v, want one on %s saying %q", fields, field, want)
	}
}
