package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

// HTTPOptions sizes the HTTP and footprint run: the real binary, built as
// `make build` builds it, on a seeded SQLite database, loaded from this
// process over loopback.
type HTTPOptions struct {
	Environments int           `json:"environments"` // environments in the database
	Events       int           `json:"events"`       // events in one environment's timeline
	Connections  int           `json:"connections"`  // concurrent clients
	Duration     time.Duration `json:"duration_ns"`  // per endpoint
	// Release builds the binary as `make build` does (static, -trimpath),
	// for a true binary size; otherwise it is built as tests build, which
	// reuses their build cache (the smoke test).
	Release bool `json:"release"`
}

// HTTPResult is the HTTP throughput and the footprint.
type HTTPResult struct {
	Options      HTTPOptions `json:"options"`
	BinaryBytes  int64       `json:"binary_bytes"`
	ColdStartMs  float64     `json:"cold_start_ms"` // exec to /readyz answering 200, seeded database
	RSSIdleKiB   int64       `json:"rss_idle_kib"`
	RSSLoadedKiB int64       `json:"rss_loaded_kib"` // after the load below
	PeakRSSKiB   int64       `json:"peak_rss_kib"`
	Endpoints    []Endpoint  `json:"endpoints"`
}

// Endpoint is the load on one path; Ratio is its rate over the baseline's
// (a trivial handler, /healthz, on the same server stack).
type Endpoint struct {
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	PerSecond float64 `json:"per_s"`
	Latency   Latency `json:"latency"`
	Ratio     float64 `json:"ratio"`
}

// ExecuteHTTP builds cmd/mayfly (run it from the module root), seeds a
// database in dir, starts the binary and measures it.
func ExecuteHTTP(ctx context.Context, dir string, opt HTTPOptions) (*HTTPResult, error) {
	res := &HTTPResult{Options: opt}
	var err error
	bin := filepath.Join(dir, "mayfly")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mayfly")
	if opt.Release {
		build = exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/mayfly")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if build.Dir, err = moduleRoot(); err != nil {
		return nil, err
	}
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bench: build: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	res.BinaryBytes = st.Size()

	data := filepath.Join(dir, "data")
	timeline, err := seed(ctx, data, opt)
	if err != nil {
		return nil, fmt.Errorf("bench: seed: %w", err)
	}

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--addr", addr, "--data-dir", data, "--log-level", "warn", "--log-format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opt.Connections}, Timeout: 30 * time.Second}
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > time.Minute {
			return nil, errors.New("bench: mayfly not ready within a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.ColdStartMs = float64(time.Since(start).Microseconds()) / 1000
	time.Sleep(2 * time.Second)
	res.RSSIdleKiB = procStatus(cmd.Process.Pid, "VmRSS")

	targets := []Endpoint{
		{Name: "baseline: trivial handler", Path: "/healthz"},
		{Name: "API: a page of 50", Path: "/api/v1/environments?limit=50"},
		{Name: "environments page", Path: "/environments"},
		{Name: fmt.Sprintf("environment page, %d events", opt.Events), Path: "/environments/" + timeline},
	}
	for i := range targets {
		load(ctx, client, base, &targets[i], opt)
		targets[i].Ratio = targets[i].PerSecond / max(targets[0].PerSecond, 0.001)
	}
	res.Endpoints = targets
	res.RSSLoadedKiB = procStatus(cmd.Process.Pid, "VmRSS")
	res.PeakRSSKiB = procStatus(cmd.Process.Pid, "VmHWM")
	return res, nil
}

// seed writes the environments and one long timeline, and returns the id
// of the environment with the timeline.
func seed(ctx context.Context, data string, opt HTTPOptions) (string, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	db, err := storage.Open(ctx, "", data)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		return "", err
	}
	cipher, err := envs.NewCipher(make([]byte, 32))
	if err != nil {
		return "", err
	}
	svc, err := envs.New(envs.Config{Store: db, Providers: []envs.Provider{instantProvider{}}, Cipher: cipher})
	if err != nil {
		return "", err
	}
	if _, _, err := svc.Publish(ctx, envs.System, []byte(instantTemplate)); err != nil {
		return "", err
	}
	tpl, err := svc.Template(ctx, "instant")
	if err != nil {
		return "", err
	}
	h := &harness{db: db, version: tpl.Versions[0].ID}
	for i := 0; i < opt.Environments; i += 1000 {
		err := db.InTx(ctx, func(tx *storage.Tx) error {
			now := time.Now().UTC().Truncate(time.Microsecond)
			for j := i; j < min(i+1000, opt.Environments); j++ {
				name := fmt.Sprintf("web-%d", j)
				if err := tx.CreateEnvironment(ctx, h.row("env-"+name, name, "ready", now, now.Add(2*time.Hour))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	const id = "env-timeline"
	err = db.InTx(ctx, func(tx *storage.Tx) error {
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := tx.CreateEnvironment(ctx, h.row(id, "timeline", "ready", now, now.Add(2*time.Hour))); err != nil {
			return err
		}
		for i := range opt.Events {
			if err := tx.AddEvent(ctx, &storage.Event{EnvironmentID: id, At: now, Kind: "provider",
				Message: fmt.Sprintf("Stack event %d: resource CREATE_COMPLETE", i), Actor: "bench"}); err != nil {
				return err
			}
		}
		return nil
	})
	return id, err
}

// load runs opt.Connections clients against one path for opt.Duration.
func load(ctx context.Context, client *http.Client, base string, e *Endpoint, opt HTTPOptions) {
	get := func() (time.Duration, bool) {
		t := time.Now()
		resp, err := client.Get(base + e.Path)
		if err != nil {
			return time.Since(t), false
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t), err == nil && resp.StatusCode == http.StatusOK
	}
	for range 10 { // warm up connections and caches
		get()
	}
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(opt.Duration)
	for range opt.Connections {
		wg.Go(func() {
			var ds []time.Duration
			errs := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				d, ok := get()
				ds = append(ds, d)
				if !ok {
					errs++
				}
			}
			mu.Lock()
			all = append(all, ds...)
			e.Errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	e.Requests = len(all)
	e.PerSecond = float64(len(all)) / time.Since(start).Seconds()
	e.Latency = latency(all)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// procStatus reads a kB field of /proc/<pid>/status (0 where there is none).
func procStatus(pid int, key string) int64 {
	v := procField(fmt.Sprintf("/proc/%d/status", pid), key)
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n
}

// moduleRoot is the directory of go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: go.mod not found above the working directory")
		}
		dir = parent
	}
}
