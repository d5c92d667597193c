package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mayflyhq/mayfly/bench"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

// TestSmoke runs the whole suite with tiny sizes, so the benchmarks cannot
// rot: the results survive a JSON round trip and render to markdown. It
// checks that figures are produced, never what they are.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the orchestrator for several seconds")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := bench.Execute(ctx, bench.Options{DatabaseURL: storagetest.URL(t), DataDir: t.TempDir(),
		Launches: 20, Concurrency: 4, Sequential: 3, ReaperTotal: 60, ReaperExpiring: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&bench.Results{At: time.Now(), Machine: bench.ThisMachine(), Command: "make bench", Runs: []*bench.Run{run}})
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	got := res.Runs[0]
	if got.Launch == nil || got.Launch.Saturated.N != 20 || got.Launch.Unsaturated.N != 3 || got.Launch.Baseline.N != 20 {
		t.Errorf("launch result = %+v, want 20 saturated, 3 sequential and 20 baseline samples", got.Launch)
	}
	if got.Reaper == nil || got.Reaper.Lag.N != 10 || got.Reaper.Plan == "" {
		t.Errorf("reaper result = %+v, want 10 lags and a plan", got.Reaper)
	}
	if res.Machine.CPUs == 0 || res.Machine.Go == "" {
		t.Errorf("machine = %+v, want CPUs and Go version", res.Machine)
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, &res); err != nil {
		t.Fatal(err)
	}
	var svg bytes.Buffer
	if err := bench.WriteReaperChart(&svg, &res); err != nil || !strings.Contains(svg.String(), "</svg>") {
		t.Errorf("reaper chart: %v\n%s", err, svg.String())
	}
	for _, want := range []string{"# Benchmarks", "## Orchestration overhead", "## Reaper lag", "make bench", "| " + got.Database + " |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, md.String())
		}
	}
}

// TestSmokeHTTP builds the binary, seeds a small database and loads each
// path briefly: every request answers 200 and the footprint is recorded.
func TestSmokeHTTP(t *testing.T) {
	if testing.Short() || storagetest.Postgres() {
		t.Skip("builds and runs the binary; SQLite only")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := bench.ExecuteHTTP(ctx, t.TempDir(), bench.HTTPOptions{Environments: 120, Events: 30, Connections: 2, Duration: 200 * time.Millisecond, Streams: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.BinaryBytes == 0 || res.ColdStartMs == 0 || res.RSSIdleKiB == 0 || res.RSSStreamsKiB == 0 {
		t.Errorf("footprint = %+v, want a size, a start time and resident sizes", res)
	}
	// The floor first (ExecuteHTTP checked that its page is the API's),
	// then Mayfly's paths.
	if len(res.Endpoints) != 5 || !res.Endpoints[0].Floor {
		t.Fatalf("got endpoints %+v, want the floor and 4 paths", res.Endpoints)
	}
	for _, e := range res.Endpoints {
		if e.Requests == 0 || e.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors; want some, none failed", e.Path, e.Requests, e.Errors)
		}
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, &bench.Results{Runs: []*bench.Run{{Database: "sqlite", HTTP: res}},
		ColdGoRun: &bench.ColdGoRun{Seconds: 125, Cgo: "CGO_ENABLED=1", LoadBefore: 0.4}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## HTTP", "## Footprint", "/healthz", "floor", "within 2x of the floor", "**125 s**"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
}
