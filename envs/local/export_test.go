package local

import "fmt"

// SandboxPolicy is sandboxPolicy for the tests, each grant as
// "<list|read|write> <path>".
func SandboxPolicy(hidden []string, workDir string) []string {
	var out []string
	for _, g := range sandboxPolicy(hidden, workDir) {
		out = append(out, fmt.Sprintf("%s %s", [...]string{"list", "read", "write"}[g.access], g.path))
	}
	return out
}
