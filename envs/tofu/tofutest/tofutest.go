// Package tofutest gives tests outside envs (cmd/mayfly) the OpenTofu
// binary and a filesystem mirror holding terraform-provider-local, from
// the tool cache .ci/build-tools fills (see envs/internal/toolcache: a
// missing tool skips the test, or fails it under MAYFLY_REQUIRE_TOOLS).
package tofutest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mayflyhq/mayfly/envs/internal/toolcache"
)

// LocalProviderVersion is the hashicorp/local version the mirror holds.
const LocalProviderVersion = toolcache.LocalProviderVersion

// Tools returns the tofu binary and a new filesystem mirror (in a
// temporary directory) with hashicorp/local for registry.opentofu.org.
func Tools(t testing.TB) (binary, mirror string) {
	t.Helper()
	binary = toolcache.Require(t, toolcache.Tofu)
	local := toolcache.Require(t, toolcache.LocalProvider)
	mirror = t.TempDir()
	v := toolcache.LocalProviderVersion
	dir := filepath.Join(mirror, "registry.opentofu.org", "hashicorp", "local", v, "linux_amd64")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(local, filepath.Join(dir, "terraform-provider-local_v"+v)); err != nil {
		t.Fatal(err)
	}
	return binary, mirror
}
