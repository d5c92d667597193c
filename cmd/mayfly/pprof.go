//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// Built only with -tags pprof (bench/run -pprof builds it so): Go's profiler
// on its own address, MAYFLY_PPROF_ADDR, never on the portal's listener.
// Release builds do not contain it.
func init() {
	if addr := os.Getenv("MAYFLY_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
