package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBuildCompilesNoC guards issue 15 item 1: no dependency outside the
// standard library has cgo files, so even with CGO_ENABLED=1 (the default on
// a machine with a C compiler) `go run ./cmd/mayfly` compiles no third-party C.
// The standard library's own cgo (net, os/user, runtime/cgo) is a few small
// files and disappears with CGO_ENABLED=0.
func TestBuildCompilesNoC(t *testing.T) {
	for _, pkgs := range [][]string{{"./cmd/mayfly"}, {"-test", "./..."}} {
		args := append([]string{"list", "-deps", "-f", "{{if and .CgoFiles (not .Standard)}}{{.ImportPath}}{{end}}"}, pkgs...)
		cmd := exec.Command("go", args...)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "" {
			t.Errorf("go %s: packages with cgo files (they compile C):\n%s", strings.Join(args, " "), got)
		}
	}
}
