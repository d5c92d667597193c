// Command run measures Mayfly on one database and adds the run to a results
// file (JSON), which `go run ./bench/report` turns into BENCHMARKS.md.
//
//	go run ./bench/run -out bench/results.json                 # SQLite
//	.ci/with-postgres go run ./bench/run -out bench/results.json -postgres
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/mayflyhq/mayfly/bench"
	"github.com/mayflyhq/mayfly/storage/storagetest"
)

func main() {
	var opt bench.Options
	out := flag.String("out", "bench/results.json", "results file: the run is added to it (a run on the same database replaces the old one)")
	fresh := flag.Bool("fresh", false, "start a new results file instead of adding to it")
	postgres := flag.Bool("postgres", false, "run on the PostgreSQL server in "+storagetest.EnvVar)
	command := flag.String("command", "make bench", "the command recorded as the way to reproduce")
	flag.IntVar(&opt.Launches, "launches", 2000, "launches in the saturated run")
	flag.IntVar(&opt.Concurrency, "concurrency", 16, "concurrent launches")
	flag.IntVar(&opt.Sequential, "sequential", 200, "launches one at a time")
	flag.IntVar(&opt.ReaperTotal, "reaper-total", 100_000, "environments in the database during the reaper run")
	flag.IntVar(&opt.ReaperExpiring, "reaper-expiring", 10_000, "environments expiring at the same instant")
	hopt := bench.HTTPOptions{Release: true}
	flag.IntVar(&hopt.Environments, "http-environments", 100_000, "environments in the database of the HTTP run (0 skips it)")
	flag.IntVar(&hopt.Events, "http-events", 1000, "events in the timeline of the environment page")
	flag.IntVar(&hopt.Connections, "http-connections", 8, "concurrent HTTP clients")
	flag.DurationVar(&hopt.Duration, "http-duration", 5*time.Second, "load on each endpoint")
	flag.IntVar(&hopt.Streams, "http-streams", 200, "SSE streams held open for the memory figure")
	coldRun := flag.Bool("cold-go-run", true, "also time a newcomer's first `go run ./cmd/mayfly` (empty build cache; a few minutes)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the launch and reaper runs (the orchestrator runs in this process) to this file")
	flag.StringVar(&hopt.ProfileDir, "pprof", "", "directory for CPU profiles of the server under each HTTP path's load (builds the binary with -tags pprof)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		opt.Profiled = func() { pprof.StopCPUProfile(); f.Close() }
	}
	if err := run(*out, *fresh, *postgres, *coldRun, *command, opt, hopt); err != nil {
		log.Fatal(err)
	}
}

func run(out string, fresh, postgres, coldRun bool, command string, opt bench.Options, hopt bench.HTTPOptions) error {
	if postgres {
		opt.DatabaseURL = os.Getenv(storagetest.EnvVar)
		if opt.DatabaseURL == "" {
			return fmt.Errorf("-postgres needs %s (run under .ci/with-postgres)", storagetest.EnvVar)
		}
	}
	dir, err := os.MkdirTemp("", "mayfly-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opt.DataDir = dir

	res := &bench.Results{}
	if b, err := os.ReadFile(out); err == nil && !fresh {
		if err := json.Unmarshal(b, res); err != nil {
			return fmt.Errorf("%s: %w", out, err)
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	log.Printf("bench: %d launches (%d at once), %d one at a time; reaper %d environments, %d expiring",
		opt.Launches, opt.Concurrency, opt.Sequential, opt.ReaperTotal, opt.ReaperExpiring)
	r, err := bench.Execute(context.Background(), opt)
	if err != nil {
		return err
	}
	if hopt.Environments > 0 {
		if postgres {
			// The run above filled its database; the HTTP run seeds its own.
			url, drop, err := bench.FreshPostgres(context.Background(), opt.DatabaseURL)
			if err != nil {
				return err
			}
			defer drop()
			hopt.DatabaseURL = url
		}
		log.Printf("bench: http %+v", hopt)
		if r.HTTP, err = bench.ExecuteHTTP(context.Background(), dir, hopt); err != nil {
			return err
		}
	}
	runs := res.Runs[:0]
	for _, old := range res.Runs {
		if old.Database != r.Database {
			runs = append(runs, old)
		}
	}
	res.Runs = append(runs, r)
	if coldRun {
		log.Printf("bench: cold go run ./cmd/mayfly")
		if res.ColdGoRun, err = bench.MeasureColdGoRun(context.Background()); err != nil {
			return err
		}
	}
	res.At = time.Now().UTC()
	res.Machine = bench.ThisMachine()
	res.Command = strings.TrimSpace(command)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	log.Printf("bench: %s done in %.0f s", r.Database, r.Seconds)
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
