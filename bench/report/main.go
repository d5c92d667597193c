// Command report regenerates BENCHMARKS.md from the results file.
//
//	go run ./bench/report -in bench/results.json -out BENCHMARKS.md
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log"
	"os"

	"github.com/mayflyhq/mayfly/bench"
)

func main() {
	in := flag.String("in", "bench/results.json", "results written by ./bench/run")
	out := flag.String("out", "BENCHMARKS.md", "markdown to write")
	chart := flag.String("chart", "bench/reaper-lag.svg", "reaper lag chart to write (SVG)")
	notes := flag.String("notes", "bench/notes.md", "hand-written analysis appended under Notes (skipped when missing)")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(b, &res); err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, &res); err != nil {
		log.Fatal(err)
	}
	var svg bytes.Buffer
	if err := bench.WriteReaperChart(&svg, &res); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*chart, svg.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if b, err := os.ReadFile(*notes); err == nil {
		md.WriteString("\n## Notes (hand-written, from bench/notes.md)\n\n")
		md.Write(b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
