//go:build !linux

package main

// hideSecrets only unsets the secret variables where there is no
// /proc/self/mem to overwrite them through.
func hideSecrets(cfg *Config) error {
	cloneSecrets(cfg)
	restoreEnv(keepLibraryEnv())
	return nil
}
