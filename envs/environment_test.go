package envs_test

import (
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

func TestShortDigest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sha256:0123456789abcdef0123", "sha256:0123456789ab"},
		{"sha256:0123456789ab", "sha256:0123456789ab"},
		{"sha256:01234", "sha256:01234"},
		{"no-algorithm-prefix-at-all", "no-algorithm-prefix-at-all"},
		{"", ""},
	} {
		if got := envs.ShortDigest(tc.in); got != tc.want {
			t.Errorf("ShortDigest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
