package tmpl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs/tmpl"
)

type data struct {
	Name   string
	Port   int
	Ports  map[string]int
	Params map[string]string
}

func sample() data {
	d := data{Name: "acme", Port: 8080, Ports: map[string]int{}, Params: map[string]string{}}
	for _, k := range strings.Split("a b c d e f g h i j", " ") {
		d.Params[k] = "value-" + k
		d.Ports[k] = 1
	}
	return d
}

func render(t *testing.T, l tmpl.Limits, text string, d any) (string, error) {
	t.Helper()
	p, err := tmpl.Parse("field", text, "missingkey=error")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p.Execute(tmpl.NewBudget(l), d)
}

func TestExecuteRendersOrdinaryTemplates(t *testing.T) {
	tests := []struct{ text, want string }{
		{"http://127.0.0.1:{{.Port}}/", "http://127.0.0.1:8080/"},
		{`{{range $k, $v := .Params}}{{if eq $k "a" "b"}}{{$k}}={{$v}};{{end}}{{end}}`, "a=value-a;b=value-b;"},
		{`{{printf "%s-%05d" .Name 42}}`, "acme-00042"},
		{`{{print .Name 1 2}} {{println "x" 3}}`, "acme1 2 x 3\n"},
		{`{{html "<a>"}} {{js "it's"}} {{urlquery "a b/c"}}`, `&lt;a&gt; it\'s a+b%2Fc`},
		{`{{define "port"}}:{{.}}{{end}}host{{template "port" .Port}}`, "host:8080"},
		{`{{range 3}}{{.}}{{end}}{{range .Ports}}{{break}}{{end}}`, "012"},
		{`{{with .Name}}{{.}}{{else}}none{{end}} {{len .Params}} {{slice .Name 1 3}}`, "acme 10 cm"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := render(t, tmpl.DefaultLimits, tt.text, sample())
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExecuteStopsRunawayTemplates(t *testing.T) {
	chain := `{{$a := printf "%60000d" 1}}` + strings.Repeat(`{{$b := printf "%s" $a}}`, 80)
	tests := []struct {
		name, text, want string
	}{
		{"range over a huge int", `{{range 1000000000000}}{{end}}`, "loops or calls templates more than 100000 times"},
		{"range over a huge int with a body", `{{range 1000000000000}}x{{break}}{{end}}{{range 1000000000000}}{{continue}}{{end}}`, "more than 100000 times"},
		{"nested ranges over .Params", `{{range .Params}}{{range $.Params}}{{range $.Params}}{{range $.Params}}{{range $.Params}}{{range $.Params}}{{end}}{{end}}{{end}}{{end}}{{end}}{{end}}`, "more than 100000 times"},
		{"nested ranges over .Ports", strings.Repeat(`{{range $.Ports}}`, 6) + strings.Repeat(`{{end}}`, 6), "more than 100000 times"},
		{"range in an else", `{{if false}}{{else}}{{range 1000000000000}}{{end}}{{end}}`, "more than 100000 times"},
		{"branching recursion", `{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`, "calls templates more than 100 deep"},
		{"deep recursion", `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, "calls templates more than 100 deep"},
		{"the template calls itself", `{{template "field" .}}`, "calls templates more than 100 deep"},
		{"block", `{{block "b" .}}{{template "b" .}}{{end}}`, "calls templates more than 100 deep"},
		{"a wide call tree", `{{define "a"}}{{range 400}}{{template "b"}}{{end}}{{end}}{{define "b"}}{{range 400}}{{end}}{{end}}{{template "a"}}`, "more than 100000 times"},
		{"huge output from a small template", `{{range 90000}}0123456789{{end}}`, "renders more than 64 KiB"},
		{"printf width", `{{printf "%999999d" 1}}`, "printf builds a string longer than 64 KiB"},
		{"printf widths by argument index", `{{printf "` + strings.Repeat(`%[1]999999d`, 20) + `" 1}}`, "builds more than 4 MiB of text"},
		{"printf star width", `{{printf "%*d%*d%*d%*d%*d" 999999 1 999999 1 999999 1 999999 1 999999 1}}`, "builds more than 4 MiB of text"},
		{"strings kept in variables", chain, "builds more than 4 MiB of text"},
		{"print of many long arguments", `{{$a := printf "%60000d" 1}}{{$b := print` + strings.Repeat(" $a", 100) + `}}`, "builds more than 4 MiB of text"},
		{"html of a long string", `{{$a := printf "%60000d" 1}}{{$b := html $a $a}}`, "html builds a string longer than 64 KiB"},
		{"urlquery of many", `{{$a := printf "%60000d" 1}}{{$b := urlquery` + strings.Repeat(" $a", 30) + `}}`, "builds more than 4 MiB of text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := render(t, tmpl.DefaultLimits, tt.text, sample())
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s, want it stopped within the 1s bound", took)
			}
			le, ok := tmpl.AsLimit(err)
			if !ok {
				t.Fatalf("err = %v, want a limit error", err)
			}
			if !strings.Contains(le.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", le, tt.want)
			}
		})
	}
}

func TestExecuteStopsAtTheDeadline(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(10 * time.Millisecond); return now }
	_, err := render(t, tmpl.Limits{Time: time.Second, Clock: clock}, `{{range 1000000000000}}{{end}}`, sample())
	le, ok := tmpl.AsLimit(err)
	if !ok || le.Error() != "the template takes longer than 1s to render" {
		t.Fatalf("err = %v, want the time limit", err)
	}
}

// One budget bounds a whole rendering: once a rendering-wide limit is hit,
// the following templates fail at once.
func TestBudgetIsShared(t *testing.T) {
	b := tmpl.NewBudget(tmpl.DefaultLimits)
	p, err := tmpl.Parse("field", `{{printf "%60000d" 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	var errs int
	for range 20 {
		if _, err := p.Execute(b, nil); err != nil {
			if !strings.Contains(err.Error(), "the templates render more than 1 MiB in all") {
				t.Fatalf("err = %v, want the total limit", err)
			}
			errs++
		}
	}
	if errs != 3 { // 17 × 60000 bytes fit in 1 MiB
		t.Errorf("%d renderings failed, want the 3 past 1 MiB", errs)
	}

	small, err := tmpl.Parse("small", "ok")
	if err != nil {
		t.Fatal(err)
	}
	steps := tmpl.NewBudget(tmpl.DefaultLimits)
	loop, _ := tmpl.Parse("loop", `{{range 1000000}}{{end}}`)
	if _, err := loop.Execute(steps, nil); err == nil {
		t.Fatal("the loop rendered")
	}
	if _, err := small.Execute(steps, nil); err == nil {
		t.Error("a template after the budget ran out rendered")
	}
	// A string too long is that field's fault only.
	long := tmpl.NewBudget(tmpl.DefaultLimits)
	big, _ := tmpl.Parse("big", `{{range 70000}}x{{end}}`)
	if _, err := big.Execute(long, nil); err == nil {
		t.Fatal("70000 bytes rendered")
	}
	if got, err := small.Execute(long, nil); err != nil || got != "ok" {
		t.Errorf("after a string too long: %q, %v; want the next one rendered", got, err)
	}
}

func TestOtherErrorsAreTextTemplates(t *testing.T) {
	_, err := render(t, tmpl.DefaultLimits, `{{.Params.nope}}`, sample())
	if err == nil || !strings.Contains(err.Error(), `map has no entry for key "nope"`) {
		t.Fatalf("err = %v, want text/template's missing key error", err)
	}
	if _, ok := tmpl.AsLimit(err); ok {
		t.Error("a missing key is reported as a limit")
	}
	if _, err := tmpl.Parse("field", "{{.Port"); err == nil {
		t.Error("a bad template parsed")
	}
	for _, brake := range []string{"_step", "_enter", "_leave"} {
		if _, err := tmpl.Parse("field", "{{"+brake+"}}"); err == nil || !strings.Contains(err.Error(), "not defined") {
			t.Errorf("a template calling %s: %v, want it refused", brake, err)
		}
	}
}
