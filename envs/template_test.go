package envs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
)

const validTemplate = `name: demo-shop
version: 1.2.0
kind: demo
description: A shop.
owner: sales
provider: local
ttl:
  default: 2h
  max: 8h
parameters:
  - name: customer
    type: string
    required: true
    pattern: "[A-Za-z ]+"
  - name: products
    type: int
    default: 12
    min: 1
    max: 200
  - name: theme
    type: enum
    options: [light, dark]
    default: light
  - name: api_key
    type: string
    secret: true
stack:
  services:
    - name: web
      command: ["true"]
`

func TestParseSpec(t *testing.T) {
	spec, err := envs.ParseSpec([]byte(validTemplate))
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	if got, want := spec.Name, "demo-shop"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	if got, want := spec.TTL, (envs.TTLPolicy{Default: 2 * time.Hour, Max: 8 * time.Hour}); got != want {
		t.Errorf("ttl = %v, want %v", got, want)
	}
	if got, want := len(spec.Parameters), 4; got != want {
		t.Fatalf("parameters = %d, want %d", got, want)
	}
	if p := spec.Parameters[1]; p.Default != "12" || !p.HasDefault || *p.Min != 1 || *p.Max != 200 {
		t.Errorf("products = %+v", p)
	}
	if got, want := string(spec.Stack), `{"services":[{"command":["true"],"name":"web"}]}`; got != want {
		t.Errorf("stack = %s, want %s", got, want)
	}
}

func TestSpecDigestIgnoresFormatting(t *testing.T) {
	a, err := envs.ParseSpec([]byte(validTemplate))
	if err != nil {
		t.Fatal(err)
	}
	b, err := envs.ParseSpec([]byte("# a comment\n" + strings.ReplaceAll(validTemplate, "description: A shop.", "description:   A shop.  ")))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest() != b.Digest() {
		t.Errorf("digests differ for the same content: %s vs %s", a.Digest(), b.Digest())
	}
	c, err := envs.ParseSpec([]byte(strings.ReplaceAll(validTemplate, "max: 8h", "max: 9h")))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest() == c.Digest() {
		t.Error("digest did not change with the content")
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(string) string
		wantField string
		wantLine  int
		wantMsg   string
	}{
		{"not yaml", func(s string) string { return "name: [unclosed\n" }, "", 1, ""},
		{"unknown field", func(s string) string { return strings.Replace(s, "owner: sales", "ownr: sales", 1) }, "", 5, "ownr"},
		{"bad name", func(s string) string { return strings.Replace(s, "name: demo-shop", "name: ../etc", 1) }, "name", 1, "lowercase"},
		{"missing version", func(s string) string { return strings.Replace(s, "version: 1.2.0\n", "", 1) }, "version", 0, "required"},
		{"bad semver", func(s string) string { return strings.Replace(s, "1.2.0", "1.2", 1) }, "version", 2, "semantic version"},
		{"bad kind", func(s string) string { return strings.Replace(s, "kind: demo", "kind: prod", 1) }, "kind", 3, "replica, demo, dr"},
		{"bad ttl", func(s string) string { return strings.Replace(s, "default: 2h", "default: forever", 1) }, "ttl.default", 8, "duration"},
		{"default over max", func(s string) string { return strings.Replace(s, "default: 2h", "default: 9h", 1) }, "ttl.default", 8, "longer than"},
		{"bad param type", func(s string) string { return strings.Replace(s, "type: int", "type: float", 1) }, "parameters[1].type", 16, "float"},
		{"bad pattern", func(s string) string { return strings.Replace(s, `"[A-Za-z ]+"`, `"[a-"`, 1) }, "parameters[0].pattern", 14, "regular expression"},
		{"pattern hint without a pattern", func(s string) string {
			return strings.Replace(s, "    type: int\n", "    type: int\n    pattern_hint: digits\n", 1)
		}, "parameters[1].pattern_hint", 17, "needs a pattern"},
		{"pattern hint on two lines", func(s string) string {
			return strings.Replace(s, `    pattern: "[A-Za-z ]+"`, `    pattern: "[A-Za-z ]+"`+"\n    pattern_hint: \"letters\\nor spaces\"", 1)
		}, "parameters[0].pattern_hint", 15, "single line"},
		{"pattern hint too long", func(s string) string {
			return strings.Replace(s, `    pattern: "[A-Za-z ]+"`, `    pattern: "[A-Za-z ]+"`+"\n    pattern_hint: "+strings.Repeat("x", 201), 1)
		}, "parameters[0].pattern_hint", 15, "at most 200"},
		{"default out of range", func(s string) string { return strings.Replace(s, "default: 12", "default: 500", 1) }, "parameters[1].default", 17, "at most 200"},
		{"enum default not an option", func(s string) string { return strings.Replace(s, "default: light", "default: blue", 1) }, "parameters[2].default", 23, "not one of"},
		{"duplicate param", func(s string) string { return strings.Replace(s, "name: theme", "name: products", 1) }, "parameters[2].name", 20, "twice"},
		{"secret int", func(s string) string {
			return strings.Replace(s, "    type: string\n    secret: true", "    type: int\n    secret: true", 1)
		}, "parameters[3].secret", 26, "only string"},
		{"missing stack", func(s string) string { return s[:strings.Index(s, "stack:")] }, "stack", 0, "required"},
		{"bad drift interval", withDrift("drift: {interval: daily}"), "drift.interval", 31, "not a duration"},
		{"drift too often", withDrift("drift: {interval: 1m}"), "drift.interval", 31, "shorter than the minimum of 5m"},
		{"drift too rarely", withDrift("drift: {interval: 2000h}"), "drift.interval", 31, "longer than the maximum of 720h"},
		{"bad drift remedy", withDrift("drift: {remedy: rollback}"), "drift.remedy", 31, "not one of manual, replace"},
		{"unknown drift field", withDrift("drift: {every: 24h}"), "", 31, "every"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := envs.ParseSpec([]byte(tt.edit(validTemplate)))
			if err == nil {
				t.Fatal("ParseSpec succeeded, want an error")
			}
			if got := envs.ErrorCode(err); got != envs.EInvalid {
				t.Fatalf("code = %s, want invalid (%v)", got, err)
			}
			fields := envs.ErrorFields(err)
			if len(fields) == 0 {
				t.Fatalf("no field errors in %v", err)
			}
			f := fields[0]
			if f.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", f.Field, tt.wantField, err)
			}
			if tt.wantLine > 0 && f.Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%v)", f.Line, tt.wantLine, err)
			}
			if !strings.Contains(f.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", f.Message, tt.wantMsg)
			}
		})
	}
}

// digestBeforeDrift is validTemplate's digest as Mayfly computed it before
// drift policies existed.
const digestBeforeDrift = "70d4e2fb98380ae69bf208e1315fb6d56929b553241bbb4099e96d013be641b2"

// withDrift adds a top-level drift section at the end of validTemplate
// (line 31).
func withDrift(section string) func(string) string {
	return func(s string) string { return s + section + "\n" }
}

func TestParseSpecDrift(t *testing.T) {
	tests := []struct {
		section  string
		interval time.Duration
		remedy   envs.DriftRemedy
	}{
		{"", envs.DefaultDriftInterval, envs.RemedyManual},
		{"drift: {interval: 6h}", 6 * time.Hour, envs.RemedyManual},
		{"drift: {interval: \"off\", remedy: replace}", 0, envs.RemedyReplace},
		{"drift: {remedy: manual}", envs.DefaultDriftInterval, envs.RemedyManual},
	}
	plain, err := envs.ParseSpec([]byte(validTemplate))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		spec, err := envs.ParseSpec([]byte(withDrift(tt.section)(validTemplate)))
		if err != nil {
			t.Fatalf("%q: %v", tt.section, err)
		}
		if got := spec.DriftSchedule(); got != tt.interval {
			t.Errorf("%q: schedule %s, want %s", tt.section, got, tt.interval)
		}
		if got := spec.DriftRemedy(); got != tt.remedy {
			t.Errorf("%q: remedy %s, want %s", tt.section, got, tt.remedy)
		}
	}
	// A template without the section keeps the digest it had before
	// drift checks existed.
	if got, want := plain.Digest(), "sha256:"+digestBeforeDrift; got != want {
		t.Errorf("digest of a template without drift: %s, want %s", got, want)
	}
}

func TestParseSpecTooLarge(t *testing.T) {
	_, err := envs.ParseSpec(make([]byte, envs.MaxTemplateSize+1))
	if got := envs.ErrorCode(err); got != envs.ETooLarge {
		t.Errorf("code = %s, want too_large", got)
	}
}

// aliasTemplate is a valid template whose stack holds extra, a YAML
// fragment at the indentation of the stack's fields.
func aliasTemplate(extra string) string {
	return strings.Replace(validTemplate, "stack:\n", "stack:\n"+extra, 1)
}

func TestParseSpecLimitsAliasExpansion(t *testing.T) {
	block := strings.Repeat("x", 10000)
	many := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+", ", n), ", ") + "]"
	}
	tests := []struct {
		name      string
		extra     string
		field     string // "" when accepted
		line      int
		wantInMsg string
	}{
		{"a few aliases", "  x-env: &env {A: b}\n  x-more: [*env, *env]\n", "", 0, ""},
		{"an alias bomb", "  x-blob: &b \"" + block + "\"\n  x-copies: " + many(1000, "*b") + "\n",
			"stack.x-copies[418]", 29, "the alias *b expands the document past 4194304 bytes"},
		{"a billion laughs", "  x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" +
			"  x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n  x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
			"  x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n  x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
			"  x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n  x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n" +
			"  x-h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n  x-i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
			"stack.x-f[8]", 33, "the alias *e expands"},
		{"under the limit but a stack too large", "  x-blob: &b \"" + block + "\"\n  x-copies: " + many(150, "*b") + "\n",
			"stack", 0, "once its aliases are expanded; at most 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := envs.ParseSpec([]byte(aliasTemplate(tt.extra)))
			if took := time.Since(start); took > time.Second {
				t.Errorf("ParseSpec took %s", took)
			}
			if tt.field == "" {
				if err != nil && !strings.Contains(err.Error(), "x-env") {
					t.Fatalf("ParseSpec: %v", err)
				}
				return
			}
			if got := envs.ErrorCode(err); got != envs.EInvalid {
				t.Fatalf("code = %s, want invalid (%v)", got, err)
			}
			for _, f := range envs.ErrorFields(err) {
				if f.Field == tt.field && strings.Contains(f.Message, tt.wantInMsg) {
					if tt.line != 0 && f.Line != tt.line {
						t.Errorf("line = %d, want %d", f.Line, tt.line)
					}
					return
				}
			}
			t.Errorf("fields = %+v, want %s saying %q", envs.ErrorFields(err), tt.field, tt.wantInMsg)
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(validTemplate))
	f.Add([]byte("name: x\n"))
	f.Add([]byte("stack: {a: [1, 2, {b: c}]}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("parameters:\n  - name: a\n    type: enum\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		spec, err := envs.ParseSpec(src)
		if err != nil {
			if envs.ErrorCode(err) == envs.EInternal {
				t.Fatalf("internal error for user input: %v", err)
			}
			return
		}
		// A spec that parses is complete and self-consistent.
		if spec.Name == "" || spec.Provider == "" || len(spec.Stack) == 0 {
			t.Fatalf("accepted an incomplete spec: %+v", spec)
		}
		if spec.TTL.Default <= 0 || spec.TTL.Default > spec.TTL.Max {
			t.Fatalf("accepted a bad TTL policy: %+v", spec.TTL)
		}
		if _, ok := envs.ParseSemver(spec.Version); !ok {
			t.Fatalf("accepted a bad version %q", spec.Version)
		}
		_ = spec.Digest()
	})
}
