package local_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/local"
)

// TestMain doubles as the service the tests run: with LOCAL_TEST_HELPER set
// (through a stack's env), the test binary plays a tiny program instead of
// running the tests, so the tests need no other binary.
//
//	serve        HTTP on --addr: /healthz 200, /pid, /env?name=X; exits on SIGTERM
//	ignore-term  like serve, but ignores SIGTERM (only SIGKILL stops it)
//	crash        prints "boom" and exits 1
func TestMain(m *testing.M) {
	switch mode := os.Getenv("LOCAL_TEST_HELPER"); mode {
	case "":
		code := m.Run()
		if code == 0 {
			code = checkGoroutines()
		}
		os.Exit(code)
	case "serve", "ignore-term":
		helperServe(mode == "ignore-term")
	case "crash":
		fmt.Fprintln(os.Stderr, "boom")
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "unknown LOCAL_TEST_HELPER %q\n", mode)
		os.Exit(2)
	}
}

// checkGoroutines fails the run when goroutines outlive the tests: every
// stack was destroyed, so no Wait goroutine, command runner or health-check
// connection may remain.
func checkGoroutines() int {
	httpClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > 1 {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n")
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0
}

func helperServe(ignoreTerm bool) {
	addr := ""
	for i, arg := range os.Args {
		if arg == "--addr" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	// Take the signal before listening, so a healthy helper is known to
	// handle SIGTERM the way its mode says.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, os.Getenv(r.URL.Query().Get("name")))
	})
	go http.Serve(l, mux)
	fmt.Println("listening on", l.Addr())
	for range sigs {
		if ignoreTerm {
			fmt.Println("ignoring SIGTERM")
			continue
		}
		fmt.Println("stopping on SIGTERM")
		os.Exit(0)
	}
}

// testConfig returns a Config with every directory in a fresh temp dir and
// the test binary as {{.Mayfly}}.
func testConfig(t *testing.T) local.Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return local.Config{
		Root:         filepath.Join(dir, "stacks"),
		LogsDir:      filepath.Join(dir, "logs"),
		SnapshotsDir: filepath.Join(dir, "snapshots"),
		Executable:   exe,
		StopGrace:    2 * time.Second,
	}
}

func newProvider(t *testing.T, cfg local.Config) *local.Provider {
	t.Helper()
	p, err := local.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// provision provisions a stack and makes sure it is destroyed, processes
// and all, when the test ends, whatever happens in between.
func provision(t *testing.T, p *local.Provider, id, stack string, params map[string]string) (string, error) {
	t.Helper()
	t.Cleanup(func() {
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Errorf("cleanup: Destroy(%s): %v", id, err)
		}
	})
	return p.Provision(context.Background(), envs.ProvisionRequest{
		EnvironmentID: id,
		Name:          "test " + id,
		Stack:         []byte(stack),
		Params:        params,
	})
}

// provisionReq is provision with a whole request.
func provisionReq(t *testing.T, p *local.Provider, req envs.ProvisionRequest) (string, error) {
	t.Helper()
	t.Cleanup(func() {
		if _, err := p.Destroy(context.Background(), req.EnvironmentID); err != nil {
			t.Errorf("cleanup: Destroy(%s): %v", req.EnvironmentID, err)
		}
	})
	return p.Provision(context.Background(), req)
}

func mustProvisionReq(t *testing.T, p *local.Provider, req envs.ProvisionRequest) string {
	t.Helper()
	h, err := provisionReq(t, p, req)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return h
}

func mustProvision(t *testing.T, p *local.Provider, id, stack string, params map[string]string) string {
	t.Helper()
	h, err := provision(t, p, id, stack, params)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return h
}

// waitState polls Status until the stack reaches want and returns the last
// status with every event seen on the way. A stack that fails while another
// state is wanted ends the test at once.
func waitState(t *testing.T, p *local.Provider, h string, want envs.StackState) (envs.StackStatus, []string) {
	t.Helper()
	var events []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := p.Status(context.Background(), h)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		for _, e := range st.Events {
			events = append(events, e.Message)
		}
		if st.State == want {
			return st, events
		}
		if st.State == envs.StackFailed {
			t.Fatalf("state = failed (%s), want %s; events: %q", st.Reason, want, events)
		}
		if time.Now().After(deadline) {
			t.Fatalf("state = %s after 20s, want %s; events: %q", st.State, want, events)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func getPID(t *testing.T, url string) int {
	t.Helper()
	pid, err := strconv.Atoi(get(t, url+"pid"))
	if err != nil {
		t.Fatalf("pid: %v", err)
	}
	return pid
}

// waitGone waits until pid no longer runs. A zombie counts as gone: after a
// simulated restart the old Provider, still alive in this test process,
// reaps it a moment later.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err == nil {
			fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			if len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(list []string, substr string) bool {
	for _, s := range list {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// serveService is a stack service running the test binary as an HTTP server.
func serveService(name, mode string) string {
	return fmt.Sprintf(`{
		"name": %q,
		"command": ["{{.Mayfly}}", "--addr", "127.0.0.1:{{.Port}}"],
		"env": {"LOCAL_TEST_HELPER": %q, "GORACE": "atexit_sleep_ms=0"},
		"health": {"path": "/healthz", "interval": "50ms", "timeout": "20s"},
		"outputs": {"%s_url": "http://127.0.0.1:{{.Port}}/"}
	}`, name, mode, name)
}
