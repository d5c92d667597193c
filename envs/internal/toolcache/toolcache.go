// Package toolcache finds the external tools that .ci/build-tools builds
// from Go modules (OpenTofu, terraform-provider-local, etcd, kube-apiserver,
// kube-controller-manager) in the machine's tool cache, for the tests of the
// tofu and kubernetes providers.
//
// A plain `go test` skips a test whose tool is missing and says how to build
// it; `make test` sets MAYFLY_REQUIRE_TOOLS=1 (after building them), and
// then a missing tool fails the test instead.
package toolcache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The versions .ci/build-tools builds; keep both in step.
const (
	TofuVersion          = "1.10.10"
	LocalProviderVersion = "1.4.0"
	EtcdVersion          = "3.7.3"
	KubeVersion          = "1.37.2"
)

// A Tool is one binary in the cache.
type Tool struct {
	Dir     string // the cache entry: <name>-<version>
	Version string
	Binary  string
}

var (
	Tofu                  = Tool{"tofu", TofuVersion, "tofu"}
	LocalProvider         = Tool{"terraform-provider-local", LocalProviderVersion, "terraform-provider-local"}
	Etcd                  = Tool{"etcd", EtcdVersion, "etcd"}
	KubeAPIServer         = Tool{"kube", KubeVersion, "kube-apiserver"}
	KubeControllerManager = Tool{"kube", KubeVersion, "kube-controller-manager"}
)

// Dir is the cache: $MAYFLY_TOOLS_CACHE, else ~/.cache/mayfly-tools.
func Dir() string {
	if d := os.Getenv("MAYFLY_TOOLS_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "mayfly-tools")
	}
	return filepath.Join(home, ".cache", "mayfly-tools")
}

// Path is where t's binary lives in the cache, whether or not it is there.
func (t Tool) Path() string {
	return filepath.Join(Dir(), t.Dir+"-"+t.Version, t.Binary)
}

// Find returns t's binary, or an error naming the command that builds it.
func (t Tool) Find() (string, error) {
	p := t.Path()
	info, err := os.Stat(p)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s %s is not in the tool cache (%s): build it with .ci/build-tools %s", t.Binary, t.Version, p, t.Dir)
	}
	return p, nil
}

// Require returns t's binary for a test: a missing tool skips the test, or
// fails it when MAYFLY_REQUIRE_TOOLS is set (make test, CI).
func Require(tb testing.TB, t Tool) string {
	tb.Helper()
	p, err := t.Find()
	if err == nil {
		return p
	}
	if os.Getenv("MAYFLY_REQUIRE_TOOLS") != "" {
		tb.Fatal(err)
	}
	tb.Skip(err)
	return ""
}
