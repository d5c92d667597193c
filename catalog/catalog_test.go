package catalog_test

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mayflyhq/mayfly/catalog"
	"github.com/mayflyhq/mayfly/catalog/shop"
)

// spec mirrors the template format closely enough to check the sample
// catalog; the envs package's own parser is the authority and has its own
// tests over these files.
type spec struct {
	Name        string  `yaml:"name"`
	Version     string  `yaml:"version"`
	Kind        string  `yaml:"kind"`
	Description string  `yaml:"description"`
	Owner       string  `yaml:"owner"`
	Provider    string  `yaml:"provider"`
	TTL         ttl     `yaml:"ttl"`
	Parameters  []param `yaml:"parameters"`
	Stack       stack   `yaml:"stack"`
}

type ttl struct {
	Default string `yaml:"default"`
	Max     string `yaml:"max"`
}

type param struct {
	Name        string   `yaml:"name"`
	Label       string   `yaml:"label"`
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Required    bool     `yaml:"required"`
	Default     *string  `yaml:"default"`
	Pattern     string   `yaml:"pattern"`
	PatternHint string   `yaml:"pattern_hint"`
	Min         *int64   `yaml:"min"`
	Max         *int64   `yaml:"max"`
	Options     []string `yaml:"options"`
	Secret      bool     `yaml:"secret"`
}

type stack struct {
	Restore *struct {
		Snapshot string `yaml:"snapshot"`
		Into     string `yaml:"into"`
	} `yaml:"restore"`
	Setup    []command `yaml:"setup"`
	Services []service `yaml:"services"`
	Verify   []command `yaml:"verify"`
}

type command struct {
	Name    string            `yaml:"name"`
	Command []string          `yaml:"command"`
	Timeout string            `yaml:"timeout"`
	Env     map[string]string `yaml:"env"`
}

type service struct {
	Name    string            `yaml:"name"`
	Command []string          `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	Health  *struct {
		Path     string `yaml:"path"`
		Interval string `yaml:"interval"`
		Timeout  string `yaml:"timeout"`
	} `yaml:"health"`
	Outputs map[string]string `yaml:"outputs"`
}

var (
	nameRe   = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	paramRe  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`)
)

// load reads every embedded template, strictly: an unknown field fails.
func load(t *testing.T) map[string]spec {
	t.Helper()
	files, err := fs.Glob(catalog.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]spec{}
	for _, file := range files {
		b, err := fs.ReadFile(catalog.FS, file)
		if err != nil {
			t.Fatal(err)
		}
		var top map[string]any
		if err := yaml.Unmarshal(b, &top); err != nil {
			t.Fatalf("%s: not YAML: %v", file, err)
		}
		for _, key := range []string{"name", "version", "kind", "description", "owner", "provider", "ttl", "parameters", "stack"} {
			if _, ok := top[key]; !ok {
				t.Errorf("%s: no %s", file, key)
			}
		}
		var s spec
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if want := s.Name + ".yaml"; file != want {
			t.Errorf("%s holds template %q; name the file %s", file, s.Name, want)
		}
		specs[s.Name] = s
	}
	return specs
}

func TestTemplates(t *testing.T) {
	specs := load(t)
	wantKinds := map[string]string{"demo-shop": "demo", "shop-replica": "replica", "shop-dr-drill": "dr"}
	if len(specs) != len(wantKinds) {
		t.Errorf("catalog has %d templates, want %d", len(specs), len(wantKinds))
	}
	for name, kind := range wantKinds {
		if s, ok := specs[name]; !ok {
			t.Errorf("catalog lacks %s", name)
		} else if s.Kind != kind {
			t.Errorf("%s: kind %q, want %q", name, s.Kind, kind)
		}
	}

	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			if !nameRe.MatchString(s.Name) {
				t.Errorf("name %q does not match %s", s.Name, nameRe)
			}
			if !semverRe.MatchString(s.Version) {
				t.Errorf("version %q is not semver", s.Version)
			}
			if s.Provider != "local" {
				t.Errorf("provider = %q, want local", s.Provider)
			}
			if len(s.Description) < 80 || s.Owner == "" {
				t.Errorf("description (%d characters) or owner missing: a newcomer reads these first", len(s.Description))
			}
			def, err1 := time.ParseDuration(s.TTL.Default)
			max, err2 := time.ParseDuration(s.TTL.Max)
			if err1 != nil || err2 != nil || def <= 0 || def > max {
				t.Errorf("ttl default %q, max %q: want positive durations, default <= max", s.TTL.Default, s.TTL.Max)
			}
			for _, p := range s.Parameters {
				checkParam(t, p)
			}
			if len(s.Stack.Services) == 0 {
				t.Error("stack has no services")
			}
			for _, svc := range s.Stack.Services {
				if svc.Health == nil || !strings.HasPrefix(svc.Health.Path, "/") {
					t.Errorf("service %s: no health path", svc.Name)
				}
				if svc.Outputs["url"] == "" {
					t.Errorf("service %s: no url output", svc.Name)
				}
			}
			if s.Kind == "dr" && len(s.Stack.Verify) == 0 {
				t.Error("a DR drill must verify what it restored")
			}
			if s.Kind != "demo" && (s.Stack.Restore == nil || s.Stack.Restore.Snapshot != shop.ProductionDataset) {
				t.Errorf("a %s must restore the %s snapshot", s.Kind, shop.ProductionDataset)
			}
		})
	}
}

func checkParam(t *testing.T, p param) {
	t.Helper()
	if !paramRe.MatchString(p.Name) {
		t.Errorf("parameter %q does not match %s", p.Name, paramRe)
	}
	if p.Label == "" {
		t.Errorf("parameter %s: no label", p.Name)
	}
	if !p.Required && p.Default == nil && p.Type != "bool" {
		// An optional parameter without a default has no value at all, and
		// the local provider refuses to render a missing {{.Params.x}}.
		t.Errorf("parameter %s: optional without a default", p.Name)
	}
	if p.Default == nil {
		return
	}
	d := *p.Default
	switch p.Type {
	case "string":
		if p.Pattern != "" && !regexp.MustCompile(`^(?:`+p.Pattern+`)$`).MatchString(d) {
			t.Errorf("parameter %s: default %q does not match its pattern", p.Name, d)
		}
		if n := int64(len([]rune(d))); p.Min != nil && n < *p.Min || p.Max != nil && n > *p.Max {
			t.Errorf("parameter %s: default %q is outside its length bounds", p.Name, d)
		}
	case "int":
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || p.Min != nil && n < *p.Min || p.Max != nil && n > *p.Max {
			t.Errorf("parameter %s: default %q is not an int within its bounds", p.Name, d)
		}
	case "bool":
		if _, err := strconv.ParseBool(d); err != nil {
			t.Errorf("parameter %s: default %q is not a bool", p.Name, d)
		}
	case "enum":
		if !slices.Contains(p.Options, d) {
			t.Errorf("parameter %s: default %q is not one of %v", p.Name, d, p.Options)
		}
	default:
		t.Errorf("parameter %s: unknown type %q", p.Name, p.Type)
	}
}

// TestTemplatesRun plays the local provider's part for every template, in
// process: restore the latest snapshot, run the setup commands, start each
// service and check its health, run the verify commands. It proves that the
// command lines the templates render are ones the sample app accepts.
func TestTemplatesRun(t *testing.T) {
	specs := load(t)
	root := t.TempDir()
	snapshotsDir := filepath.Join(root, "snapshots")
	if _, err := shop.EnsureProductionSnapshot(filepath.Join(root, "data"), snapshotsDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Values a user would enter; everything else takes its default.
	entered := map[string]string{"customer": "Smith & Sons", "products": "7", "theme": "dark"}

	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			t.Chdir(work) // every command's cwd is the work directory

			data := map[string]any{
				"Mayfly": "/usr/local/bin/mayfly", "Dir": work, "Port": 0,
				"Ports": map[string]int{}, "EnvironmentID": "env-test", "Name": "test",
				"Params": params(s, entered),
			}
			if r := s.Stack.Restore; r != nil {
				snapDir, m, err := shop.LatestSnapshot(filepath.Join(snapshotsDir, r.Snapshot))
				if err != nil {
					t.Fatal(err)
				}
				into := filepath.Join(work, r.Into)
				copyDir(t, snapDir, into)
				data["Snapshot"] = map[string]string{
					"Dir": into, "Manifest": filepath.Join(into, shop.ManifestFile),
					"TakenAt": m.TakenAt.Format(time.RFC3339),
				}
			}

			for _, c := range s.Stack.Setup {
				runCommand(t, render(t, c.Command, data))
			}
			for _, svc := range s.Stack.Services {
				for k, v := range svc.Env {
					t.Setenv(k, render(t, []string{v}, data)[0])
				}
				stop := startService(t, render(t, svc.Command, data), svc.Health.Path)
				defer stop()
			}
			// As on the provider, verify runs while the services serve.
			for _, c := range s.Stack.Verify {
				runCommand(t, render(t, c.Command, data))
			}
		})
	}
}

func params(s spec, entered map[string]string) map[string]string {
	out := map[string]string{}
	for _, p := range s.Parameters {
		switch v, ok := entered[p.Name]; {
		case ok:
			out[p.Name] = v
		case p.Default != nil:
			out[p.Name] = *p.Default
		case p.Type == "bool":
			out[p.Name] = "false"
		}
	}
	return out
}

func render(t *testing.T, argv []string, data map[string]any) []string {
	t.Helper()
	out := make([]string, len(argv))
	for i, arg := range argv {
		tmpl, err := template.New("arg").Option("missingkey=error").Parse(arg)
		if err != nil {
			t.Fatalf("%q: %v", arg, err)
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, data); err != nil {
			t.Fatalf("%q: %v", arg, err)
		}
		out[i] = b.String()
	}
	return out
}

// sampleApp checks that argv runs the sample app and returns its arguments.
func sampleApp(t *testing.T, argv []string) []string {
	t.Helper()
	if len(argv) < 2 || argv[0] != "/usr/local/bin/mayfly" || argv[1] != "sample-app" {
		t.Fatalf("command %q does not run `mayfly sample-app`", argv)
	}
	return argv[2:]
}

func runCommand(t *testing.T, argv []string) {
	t.Helper()
	var stdout, stderr strings.Builder
	if code := shop.Run(context.Background(), sampleApp(t, argv), &stdout, &stderr); code != 0 {
		t.Fatalf("%q: exit %d\n%s%s", argv, code, stdout.String(), stderr.String())
	}
	t.Logf("%s", stdout.String())
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startService starts a service (rendered with port 0), waits for its
// health path to answer 200, and returns a function that stops it as SIGTERM
// would.
func startService(t *testing.T, argv []string, health string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- shop.Run(ctx, sampleApp(t, argv), &out, &out) }()
	stop = func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("%q exited with %d after shutdown:\n%s", argv, code, out.String())
		}
	}

	urlRE := regexp.MustCompile(`url=(http://\S+)/`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			resp, err := http.Get(m[1] + health)
			if err != nil {
				stop()
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				stop()
				t.Fatalf("GET %s = %d", health, resp.StatusCode)
			}
			return stop
		}
		select {
		case code := <-exit:
			t.Fatalf("%q exited with %d:\n%s", argv, code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%q did not start:\n%s", argv, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}
