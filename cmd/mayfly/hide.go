package main

import (
	"bytes"
	"os"
	"strings"
)

// Secrets the portal may be given in its environment or on its command
// line. Anyone who can read /proc/<portal>/environ or cmdline would see
// them: cmdline is readable by every process of the host, environ by the
// portal's user, root and (Landlock does not stop it) sandboxed stacks.
var (
	// configSecretEnv are read into Config and then unset.
	configSecretEnv = []string{"MAYFLY_SECRET_KEY", "MAYFLY_SECRET_KEY_PREVIOUS", "MAYFLY_OIDC_CLIENT_SECRET", "MAYFLY_DATABASE_URL"}
	// librarySecretEnv are read by the AWS SDK and pgx when they connect,
	// after start-up: hidden from /proc but kept in Go's environment.
	librarySecretEnv = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD"}
	// secretFlags take a secret value ("--flag value" or "--flag=value",
	// with one dash or two).
	secretFlags = []string{"oidc-client-secret", "database-url"}
)

// cloneSecrets copies the secret values cfg holds: Go's strings for
// os.Args, flag values and the environment point into the very memory that
// hideSecrets overwrites.
func cloneSecrets(cfg *Config) {
	cfg.SecretKey = strings.Clone(cfg.SecretKey)
	cfg.SecretKeysPrevious = strings.Clone(cfg.SecretKeysPrevious)
	cfg.OIDCClientSecret = strings.Clone(cfg.OIDCClientSecret)
	cfg.DatabaseURL = strings.Clone(cfg.DatabaseURL)
}

// envSecretRanges returns the [start, end) offsets of the secret values in
// an environment block ("K=V\x00K=V\x00...").
func envSecretRanges(block []byte) [][2]int {
	secret := map[string]bool{}
	for _, k := range append(append([]string{}, configSecretEnv...), librarySecretEnv...) {
		secret[k] = true
	}
	var out [][2]int
	forEachEntry(block, func(start int, entry []byte) {
		if k, v, ok := bytes.Cut(entry, []byte("=")); ok && secret[string(k)] && len(v) > 0 {
			out = append(out, [2]int{start + len(k) + 1, start + len(entry)})
		}
	})
	return out
}

// argSecretRanges returns the [start, end) offsets of secret flag values in
// an argument block ("arg\x00arg\x00...").
func argSecretRanges(block []byte) [][2]int {
	var out [][2]int
	valueNext := false
	forEachEntry(block, func(start int, arg []byte) {
		if valueNext {
			valueNext = false
			if len(arg) > 0 {
				out = append(out, [2]int{start, start + len(arg)})
			}
			return
		}
		name, ok := bytes.CutPrefix(arg, []byte("-"))
		if !ok {
			return
		}
		name = bytes.TrimPrefix(name, []byte("-"))
		name, value, hasValue := bytes.Cut(name, []byte("="))
		for _, f := range secretFlags {
			if string(name) != f {
				continue
			}
			if !hasValue {
				valueNext = true
			} else if len(value) > 0 {
				out = append(out, [2]int{start + len(arg) - len(value), start + len(arg)})
			}
		}
	})
	return out
}

// forEachEntry calls f with each NUL-terminated entry of block and its
// offset.
func forEachEntry(block []byte, f func(start int, entry []byte)) {
	for start := 0; start < len(block); {
		end := bytes.IndexByte(block[start:], 0)
		if end < 0 {
			end = len(block) - start
		}
		f(start, block[start:start+end])
		start += end + 1
	}
}

// mask overwrites the ranges with '*', keeping the block's length and
// terminators (the kernel reads cmdline up to arg_end).
func mask(block []byte, ranges [][2]int) {
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			block[i] = '*'
		}
	}
}

// restoreEnv unsets the configuration's secret variables (Config holds
// them now) and sets the libraries' ones again from kept copies, so that
// they live in Go's heap only.
func restoreEnv(kept map[string]string) {
	for _, k := range configSecretEnv {
		_ = os.Unsetenv(k)
	}
	for k, v := range kept {
		_ = os.Setenv(k, v)
	}
}

// keepLibraryEnv copies the libraries' secret variables before their
// memory is overwritten.
func keepLibraryEnv() map[string]string {
	kept := map[string]string{}
	for _, k := range librarySecretEnv {
		if v, ok := os.LookupEnv(k); ok {
			kept[k] = strings.Clone(v)
		}
	}
	return kept
}
