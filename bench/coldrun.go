package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ColdGoRun is a newcomer's first `go run ./cmd/mayfly`.
type ColdGoRun struct {
	Seconds    float64 `json:"seconds"`
	Cgo        string  `json:"cgo"`                 // CGO_ENABLED as the build saw it
	LoadBefore float64 `json:"load_average_before"` // 1-minute load average when it started
}

// MeasureColdGoRun times `go run ./cmd/mayfly version` with an empty,
// temporary GOCACHE: everything compiled from scratch, as on a fresh
// machine once the modules are downloaded. CGO_ENABLED is left as the
// environment has it (Go's default is 1 where a C compiler exists).
func MeasureColdGoRun(ctx context.Context) (*ColdGoRun, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cache, err := os.MkdirTemp("", "mayfly-cold-gocache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cache)
	cgo, err := exec.CommandContext(ctx, "go", "env", "CGO_ENABLED").Output()
	if err != nil {
		return nil, fmt.Errorf("bench: go env: %w", err)
	}
	res := &ColdGoRun{Cgo: "CGO_ENABLED=" + strings.TrimSpace(string(cgo)), LoadBefore: loadAverage()}
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/mayfly", "version")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOCACHE="+cache)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bench: cold go run: %v\n%s", err, out)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
