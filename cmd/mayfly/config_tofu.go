package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"
)

// TofuConfig is the tofu provider's configuration: OpenTofu (or Terraform)
// stacks whose state Mayfly keeps (see envs/tofu).
type TofuConfig struct {
	// Binary is the tofu or terraform executable (MAYFLY_TOFU_BINARY,
	// --tofu-binary); empty: the provider is not built.
	Binary string
	// Mirror is a filesystem mirror of providers, PluginCache a plugin
	// cache dir; AllowDownloads lets init download providers from their
	// registries (off: nothing downloads at run time).
	Mirror         string
	PluginCache    string
	AllowDownloads bool
	// Step timeouts.
	InitTimeout, PlanTimeout, ApplyTimeout, DestroyTimeout time.Duration
}

func tofuFlags(fs *flag.FlagSet, c *TofuConfig, env func(string, string) string, envDur func(string, time.Duration) time.Duration) {
	fs.StringVar(&c.Binary, "tofu-binary", env("MAYFLY_TOFU_BINARY", ""),
		"tofu provider: the tofu (or terraform) executable; unset: no tofu provider (MAYFLY_TOFU_BINARY)")
	fs.StringVar(&c.Mirror, "tofu-mirror", env("MAYFLY_TOFU_MIRROR", ""),
		"tofu provider: a filesystem mirror of providers (<host>/<namespace>/<type>/<version>/<os_arch>/) (MAYFLY_TOFU_MIRROR)")
	fs.StringVar(&c.PluginCache, "tofu-plugin-cache", env("MAYFLY_TOFU_PLUGIN_CACHE", ""), "tofu provider: a plugin cache dir (MAYFLY_TOFU_PLUGIN_CACHE)")
	fs.BoolVar(&c.AllowDownloads, "tofu-allow-downloads", env("MAYFLY_TOFU_ALLOW_DOWNLOADS", "") == "1" || env("MAYFLY_TOFU_ALLOW_DOWNLOADS", "") == "true",
		"tofu provider: let init download providers from their registries (default: the mirror only) (MAYFLY_TOFU_ALLOW_DOWNLOADS)")
	fs.DurationVar(&c.InitTimeout, "tofu-init-timeout", envDur("MAYFLY_TOFU_INIT_TIMEOUT", 2*time.Minute), "tofu provider: timeout of init (MAYFLY_TOFU_INIT_TIMEOUT)")
	fs.DurationVar(&c.PlanTimeout, "tofu-plan-timeout", envDur("MAYFLY_TOFU_PLAN_TIMEOUT", 3*time.Minute), "tofu provider: timeout of plan (MAYFLY_TOFU_PLAN_TIMEOUT)")
	fs.DurationVar(&c.ApplyTimeout, "tofu-apply-timeout", envDur("MAYFLY_TOFU_APPLY_TIMEOUT", 5*time.Minute), "tofu provider: timeout of apply (MAYFLY_TOFU_APPLY_TIMEOUT)")
	fs.DurationVar(&c.DestroyTimeout, "tofu-destroy-timeout", envDur("MAYFLY_TOFU_DESTROY_TIMEOUT", 8*time.Minute), "tofu provider: timeout of destroy (MAYFLY_TOFU_DESTROY_TIMEOUT)")
}

// resolveTofu turns the tofu provider on by default when its binary is
// configured; listing it in --providers without one is refused.
func (c *ProvidersConfig) resolveTofu(t TofuConfig) error {
	if c.List == "" && t.Binary != "" && !slices.Contains(c.On, "tofu") {
		c.On = append(c.On, "tofu")
	}
	if c.has("tofu") && t.Binary == "" {
		return fmt.Errorf("--providers %q turns tofu on, but --tofu-binary (MAYFLY_TOFU_BINARY) is not set", c.List)
	}
	return nil
}

// validate checks the settings; a launch (init, plan, apply) and a destroy
// (init, destroy) each run in one job step, so they must fit in
// --job-timeout, or the job would cut a step its own timeout allows.
func (c TofuConfig) validate(jobTimeout time.Duration) error {
	if c.Binary == "" {
		return nil
	}
	if info, err := os.Stat(c.Binary); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("--tofu-binary %q: not an executable file", c.Binary)
	}
	if c.Mirror != "" {
		if info, err := os.Stat(c.Mirror); err != nil || !info.IsDir() {
			return fmt.Errorf("--tofu-mirror %q: not a directory", c.Mirror)
		}
	}
	if c.InitTimeout <= 0 || c.PlanTimeout <= 0 || c.ApplyTimeout <= 0 || c.DestroyTimeout <= 0 {
		return fmt.Errorf("--tofu-*-timeout: the step timeouts must be positive")
	}
	if launch := c.InitTimeout + c.PlanTimeout + c.ApplyTimeout; launch > jobTimeout {
		return fmt.Errorf("--tofu-init-timeout + --tofu-plan-timeout + --tofu-apply-timeout (%s) exceed --job-timeout (%s): a launch runs in one job step; raise --job-timeout", launch, jobTimeout)
	}
	if destroy := c.InitTimeout + c.DestroyTimeout; destroy > jobTimeout {
		return fmt.Errorf("--tofu-init-timeout + --tofu-destroy-timeout (%s) exceed --job-timeout (%s): a destroy runs in one job step; raise --job-timeout", destroy, jobTimeout)
	}
	return nil
}
