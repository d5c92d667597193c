package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/storage"
)

// HTTPOptions sizes the HTTP and footprint run: the real binary, built as
// `make build` builds it, on a seeded database, loaded from this process
// over loopback.
type HTTPOptions struct {
	// DatabaseURL is "" for SQLite in the run's directory, or an empty
	// PostgreSQL database that the run seeds.
	DatabaseURL  string        `json:"-"`
	Environments int           `json:"environments"` // environments in the database
	Events       int           `json:"events"`       // events in one environment's timeline
	Connections  int           `json:"connections"`  // concurrent clients
	Duration     time.Duration `json:"duration_ns"`  // per endpoint
	Streams      int           `json:"sse_streams"`  // SSE streams held open for the memory figure (0: none)
	// Release builds the binary as `make build` does (static, -trimpath),
	// for a true binary size; otherwise it is built as tests build, which
	// reuses their build cache (the smoke test).
	Release bool `json:"release"`
	// ProfileDir, when set, gets a CPU profile of the server under each
	// path's load (<dir>/<database>-<n>.pprof): the binary is then built
	// with -tags pprof, which serves Go's profiler on another port.
	ProfileDir string `json:"-"`
}

// HTTPResult is the HTTP throughput and the footprint.
type HTTPResult struct {
	Options       HTTPOptions `json:"options"`
	BinaryBytes   int64       `json:"binary_bytes"`
	ColdStartMs   float64     `json:"cold_start_ms"` // exec to /readyz answering 200, seeded database
	RSSIdleKiB    int64       `json:"rss_idle_kib"`
	RSSLoadedKiB  int64       `json:"rss_loaded_kib"` // after the load below
	PeakRSSKiB    int64       `json:"peak_rss_kib"`
	RSSStreamsKiB int64       `json:"rss_streams_kib,omitempty"` // with Options.Streams SSE streams open
	Endpoints     []Endpoint  `json:"endpoints"`
}

// Endpoint is the load on one path. The first is the floor (bench/floor,
// its own process): the API's first page read and encoded with
// database/sql and encoding/json only; FloorRatio is a path's server CPU
// per request over the floor's (issue 15: within 2x).
type Endpoint struct {
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Floor     bool    `json:"floor,omitempty"` // served by bench/floor, not Mayfly
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	PerSecond float64 `json:"per_s"`
	Latency   Latency `json:"latency"`
	// ServerCPUMicros is the server process's CPU time (user and system)
	// under this load, per request: unlike the rate, it does not depend on
	// how much of the machine the load generator takes.
	ServerCPUMicros float64 `json:"server_cpu_us_per_request"`
	FloorRatio      float64 `json:"cpu_ratio_to_floor"`
}

// ExecuteHTTP builds cmd/mayfly (run it from the module root), seeds a
// database in dir, starts the binary and measures it.
func ExecuteHTTP(ctx context.Context, dir string, opt HTTPOptions) (*HTTPResult, error) {
	res := &HTTPResult{Options: opt}
	var err error
	bin := filepath.Join(dir, "mayfly")
	args := []string{"build"}
	if opt.Release {
		args = append(args, "-trimpath")
	}
	if opt.ProfileDir != "" {
		args = append(args, "-tags", "pprof")
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	floorBin := filepath.Join(dir, "floor")
	for _, b := range []struct{ out, pkg string }{{bin, "./cmd/mayfly"}, {floorBin, "./bench/floor"}} {
		build := exec.CommandContext(ctx, "go", append(append([]string{}, args...), "-o", b.out, b.pkg)...)
		if opt.Release {
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("bench: build %s: %v\n%s", b.pkg, err, out)
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	res.BinaryBytes = st.Size()

	data := filepath.Join(dir, "data")
	timeline, err := seed(ctx, opt.DatabaseURL, data, opt)
	if err != nil {
		return nil, fmt.Errorf("bench: seed: %w", err)
	}

	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--addr", addr, "--data-dir", data, "--log-level", "warn", "--log-format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if opt.DatabaseURL != "" {
		cmd.Args = append(cmd.Args, "--database-url", opt.DatabaseURL)
	}
	pprofAddr := ""
	if opt.ProfileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, "MAYFLY_PPROF_ADDR="+pprofAddr)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer stop(cmd)
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opt.Connections}, Timeout: 30 * time.Second}
	if err := waitReady(client, base, "mayfly"); err != nil {
		return nil, err
	}
	res.ColdStartMs = float64(time.Since(start).Microseconds()) / 1000
	time.Sleep(2 * time.Second)
	res.RSSIdleKiB = procStatus(cmd.Process.Pid, "VmRSS")

	// The floor reads the same database, in its own process so that its
	// CPU time is its own.
	floorAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	floor := exec.Command(floorBin, "-addr", floorAddr)
	if opt.DatabaseURL != "" {
		floor.Args = append(floor.Args, "-postgres", opt.DatabaseURL)
	} else {
		floor.Args = append(floor.Args, "-sqlite", filepath.Join(data, "mayfly.db"))
	}
	floor.Stdout, floor.Stderr = io.Discard, io.Discard
	if err := floor.Start(); err != nil {
		return nil, err
	}
	defer stop(floor)
	floorBase := "http://" + floorAddr
	if err := waitReady(client, floorBase, "floor"); err != nil {
		return nil, err
	}

	if err := sameFirstPage(client, base, floorBase); err != nil {
		return nil, err
	}

	targets := []Endpoint{
		{Name: "floor: database/sql + encoding/json", Path: "/environments?limit=50", Floor: true},
		{Name: "trivial handler", Path: "/healthz"},
		{Name: "API: a page of 50", Path: "/api/v1/environments?limit=50"},
		{Name: "environments page", Path: "/environments"},
		{Name: fmt.Sprintf("environment page, %d events", opt.Events), Path: "/environments/" + timeline},
	}
	db := "sqlite"
	if opt.DatabaseURL != "" {
		db = "postgres"
	}
	for i := range targets {
		server, serverBase := cmd, base
		if targets[i].Floor {
			server, serverBase = floor, floorBase
		}
		var profiled chan error
		if pprofAddr != "" && !targets[i].Floor {
			profiled = make(chan error, 1)
			out := filepath.Join(opt.ProfileDir, fmt.Sprintf("%s-%d.pprof", db, i))
			go func() { profiled <- cpuProfile(ctx, "http://"+pprofAddr, opt.Duration, out) }()
		}
		cpu := procCPU(server.Process.Pid)
		load(ctx, client, serverBase, &targets[i], opt)
		if n := targets[i].Requests; n > 0 {
			targets[i].ServerCPUMicros = float64((procCPU(server.Process.Pid) - cpu).Microseconds()) / float64(n)
		}
		if targets[0].ServerCPUMicros > 0 {
			targets[i].FloorRatio = targets[i].ServerCPUMicros / targets[0].ServerCPUMicros
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				return nil, fmt.Errorf("bench: profile %s: %w", targets[i].Path, err)
			}
		}
	}
	res.Endpoints = targets
	res.RSSLoadedKiB = procStatus(cmd.Process.Pid, "VmRSS")
	if opt.Streams > 0 {
		// As the environment page opens it: following the timeline after
		// the newest event the page already shows.
		last, err := lastEventID(ctx, client, base, timeline)
		if err != nil {
			return nil, err
		}
		stream := fmt.Sprintf("%s/environments/%s/stream?after=%d", base, timeline, last)
		if res.RSSStreamsKiB, err = withStreams(ctx, stream, opt.Streams, func() int64 {
			time.Sleep(2 * time.Second) // every stream has polled its timeline at least once
			return procStatus(cmd.Process.Pid, "VmRSS")
		}); err != nil {
			return nil, err
		}
	}
	res.PeakRSSKiB = procStatus(cmd.Process.Pid, "VmHWM")
	return res, nil
}

// sameFirstPage checks that the floor does the API's work: its first page
// lists the same environments in the same order as /api/v1/environments.
func sameFirstPage(client *http.Client, base, floorBase string) error {
	ids := func(url string) ([]string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("bench: %s: status %d", url, resp.StatusCode)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", url, err)
		}
		out := make([]string, len(page.Items))
		for i, it := range page.Items {
			out[i] = it.ID
		}
		return out, nil
	}
	api, err := ids(base + "/api/v1/environments?limit=50")
	if err != nil {
		return err
	}
	floor, err := ids(floorBase + "/environments?limit=50")
	if err != nil {
		return err
	}
	if len(api) == 0 || strings.Join(api, ",") != strings.Join(floor, ",") {
		return fmt.Errorf("bench: the floor's first page differs from the API's:\n api:   %v\n floor: %v", api, floor)
	}
	return nil
}

// waitReady waits up to a minute for base/readyz to answer 200.
func waitReady(client *http.Client, base, what string) error {
	start := time.Now()
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Since(start) > time.Minute {
			return fmt.Errorf("bench: %s not ready within a minute", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop interrupts a server process and waits for it, killing it after 10 s.
func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// lastEventID is the id of the newest event of an environment's timeline.
func lastEventID(ctx context.Context, client *http.Client, base, id string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/environments/"+id+"/events", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var events struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
		return 0, fmt.Errorf("bench: events of %s: %w", id, err)
	}
	if len(events.Items) == 0 {
		return 0, nil
	}
	return events.Items[len(events.Items)-1].ID, nil
}

// cpuProfile saves a CPU profile of the server taken over most of d.
func cpuProfile(ctx context.Context, pprofBase string, d time.Duration, out string) error {
	secs := max(int(d.Seconds())-1, 1)
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", pprofBase, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// withStreams opens n SSE streams on url, waits until each has answered,
// calls measure while they are open, then closes them.
func withStreams(ctx context.Context, url string, n int, measure func() int64) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	opened := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
			if err != nil {
				opened <- err
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				opened <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				opened <- fmt.Errorf("stream: status %d", resp.StatusCode)
				return
			}
			opened <- nil
			_, _ = io.Copy(io.Discard, resp.Body) // until the stream is closed
		})
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range n {
		if err := <-opened; err != nil {
			return 0, fmt.Errorf("bench: open SSE streams: %w", err)
		}
	}
	return measure(), nil
}

// seed writes the environments and one long timeline, and returns the id
// of the environment with the timeline.
func seed(ctx context.Context, url, data string, opt HTTPOptions) (string, error) {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	db, err := storage.Open(ctx, url, data)
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
				if err := tx.CreateEnvironment(ctx, h.shown(h.row("env-"+name, name, "ready", now, now.Add(2*time.Hour)))); err != nil {
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
		if err := tx.CreateEnvironment(ctx, h.shown(h.row(id, "timeline", "ready", now, now.Add(2*time.Hour)))); err != nil {
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

// shown fills in what a ready environment has for the pages to show (the
// reaper's rows do without): parameters, an output, when it was ready.
func (h *harness) shown(e *storage.Environment) *storage.Environment {
	e.Params = `{"region":"eu-west-1","size":"small"}`
	e.Outputs = fmt.Sprintf(`{"url":"https://%s.example.invalid/"}`, e.Name)
	e.ProvisionStartedAt, e.ReadyAt = &e.CreatedAt, &e.CreatedAt
	return e
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

// procCPU is a process's CPU time so far, user and system, from
// /proc/PID/stat (in clock ticks: 100 a second on Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	_, after, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
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

// FreshPostgres creates an empty database on the PostgreSQL server at
// admin (a URL whose user may create databases) for the HTTP run, and
// returns its URL and a function that drops it.
func FreshPostgres(ctx context.Context, admin string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("mayfly_bench_http_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("bench: create database: %w", err)
	}
	u, err := neturl.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
	return u.String(), drop, nil
}
